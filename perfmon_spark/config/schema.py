"""The JSON Schema of a config file, generated from the declarations (``model``), and how the
rest of the package reads it: the branch of each problem type, the shapes a value at a key path
may take and what is allowed there. The errors (``messages``), ``--set`` key paths (``overrides``)
and the reference (``docs``) all read the schema, so none of them keeps a list of keys or values
of its own.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from perfmon_spark.config.model import CONFIGS


class _Untitled(GenerateJsonSchema):
    """Without the titles pydantic derives from field names (``"Max Delay"``): noise in an editor."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a config file: what ``perfmon schema`` prints. Its root is
    ``oneOf`` a branch per problem type, with the ``discriminator`` editors choose a branch by."""
    schema = CONFIGS.json_schema(schema_generator=_Untitled)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def _resolved(schema: dict, node: dict) -> dict:
    return schema["$defs"][node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else node


def branches(schema: dict) -> dict[str, dict]:
    """The shape of a config of each problem type, by its ``problem_type``, in ``oneOf``'s order (that
    of ``ProblemType``; the discriminator's mapping is sorted)."""
    tags = {ref: tag for tag, ref in schema["discriminator"]["mapping"].items()}
    return {tags[option["$ref"]]: _resolved(schema, option) for option in schema["oneOf"]}


def shapes_of(schema: dict, node: dict) -> list[dict]:
    """The shapes a value may take: ``anyOf`` and ``oneOf`` options flattened, references resolved."""
    node = _resolved(schema, node)
    options = node.get("anyOf", node.get("oneOf"))
    return [shape for option in options for shape in shapes_of(schema, option)] if options else [node]


def shapes_at(schema: dict, loc: tuple, root: dict | None = None) -> list[dict]:
    """The shapes of the value at ``loc`` (keys and list indexes) below ``root``: a ``branches``
    shape, or by default the whole schema (where a key of any problem type is known)."""
    shapes = shapes_of(schema, schema if root is None else root)
    for key in loc:
        inner = (s.get("items") if isinstance(key, int) else s.get("properties", {}).get(key) for s in shapes)
        shapes = [shape for node in inner if node for shape in shapes_of(schema, node)]
    return shapes


def allowed_values(schema: dict, shapes: list[dict]) -> str:
    """Enum values and bounds (``[0.5, 1)``, ``>= 1``), as the reference and the errors show them; a
    ``const`` is an enum of one value (``problem_type`` has one in each problem type's branch)."""
    words = (inline_yaml(v) for s in shapes for v in s.get("enum", [s["const"]] if "const" in s else []))
    parts = [", ".join(dict.fromkeys(words))]
    for s in shapes:
        low = next((f"{b}{s[k]:g}" for k, b in (("minimum", "["), ("exclusiveMinimum", "(")) if k in s), "")
        high = next((f"{s[k]:g}{b}" for k, b in (("maximum", "]"), ("exclusiveMaximum", ")")) if k in s), "")
        parts.append(f"{low}, {high}" if high else f"{'>=' if low[:1] == '[' else '>'} {low[1:]}" if low else "")
        parts += [allowed_values(schema, shapes_of(schema, s["items"]))] if "items" in s else []
    return "; ".join(p for p in parts if p)


def inline_yaml(value: Any) -> str:
    """A value as YAML writes it inline."""
    if isinstance(value, list):
        return f"[{', '.join(map(inline_yaml, value))}]"
    return value if isinstance(value, str) and value else json.dumps(value)
