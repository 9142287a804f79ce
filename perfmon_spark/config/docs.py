"""The configuration section of ``docs/reference.md``: every key path of the JSON Schema with its
type, default, allowed values and doc, as a markdown table (``perfmon_spark.reference`` renders
the rest of the file). A key of some problem types' branches only says so before its doc.
"""

from __future__ import annotations

from collections.abc import Iterator

from perfmon_spark.config.schema import allowed_values, branches, inline_yaml, json_schema, shapes_of


def reference_markdown() -> str:
    """Every key path with its type, default, allowed values and doc, as a markdown table."""
    schema = json_schema()
    of_type = branches(schema)
    keys: dict[str, tuple[list[dict], bool, list[str]]] = {}  # path -> (its properties, required, its types)
    for tag, branch in of_type.items():
        for path, prop, required in _keys(schema, branch, ""):
            props, _, tags = keys.setdefault(path, ([], required, []))
            props += [] if prop in props else [prop]  # branches differ in problem_type only
            tags.append(tag)
    lines = ["| key | type | default | allowed | description |", "| --- | --- | --- | --- | --- |"]
    for path, (props, required, tags) in keys.items():
        prop = props[0]
        default = "required" if required else inline_yaml(prop["default"]) if "default" in prop else ""
        shapes = [shape for p in props for shape in shapes_of(schema, p)]
        only = f"{' and '.join(tags)} only: " if len(tags) < len(of_type) else ""
        cells = (
            f"`{path}`",
            _kind(schema, shapes),
            default,
            allowed_values(schema, shapes),
            only + prop.get("description", ""),
        )
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _keys(schema: dict, node: dict, prefix: str) -> Iterator[tuple[str, dict, bool]]:
    """(path, property, required) of every key below ``node``, depth first; ``[]`` for list items."""
    for shape in shapes_of(schema, node):
        if "items" in shape:
            yield from _keys(schema, shape["items"], prefix + "[]")
        for key, prop in shape.get("properties", {}).items():
            path = f"{prefix}.{key}".removeprefix(".")
            yield path, prop, key in shape.get("required", ())
            yield from _keys(schema, prop, path)


def _kind(schema: dict, shapes: list[dict]) -> str:
    """The type column: a shape's title (``duration``, ``table``) or JSON type; a list or mapping by what it holds."""

    def kind(s: dict) -> str:
        if "items" in s or isinstance(s.get("additionalProperties"), dict):
            inner = shapes_of(schema, s.get("items") or s["additionalProperties"])
            return f"{'list of' if 'items' in s else 'mapping to'} {_kind(schema, inner)}"
        return "mapping" if "properties" in s else s.get("title", s.get("type", "any"))

    return " or ".join(dict.fromkeys(kind(s) for s in shapes))
