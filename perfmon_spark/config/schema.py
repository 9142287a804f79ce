"""The JSON Schema of a config file, generated from the declarations (``model``), and how the
rest of the package reads it: the shapes a value at a key path may take and what is allowed
there. The errors (``messages``), ``--set`` key paths (``overrides``) and the reference (``docs``)
all read the schema, so none of them keeps a list of keys or values of its own.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from perfmon_spark.config.model import MonitorConfig


class _Untitled(GenerateJsonSchema):
    """Without the titles pydantic derives from field names (``"Max Delay"``): noise in an editor."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a config file: what ``perfmon schema`` prints."""
    schema = MonitorConfig.model_json_schema(schema_generator=_Untitled)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def shapes_of(schema: dict, node: dict) -> list[dict]:
    """The shapes a value may take: ``anyOf`` options flattened, references resolved."""
    node = schema["$defs"][node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else node
    return [shape for option in node["anyOf"] for shape in shapes_of(schema, option)] if "anyOf" in node else [node]


def shapes_at(schema: dict, loc: tuple) -> list[dict]:
    """The shapes of the value at ``loc`` (keys and list indexes) of a config."""
    shapes = shapes_of(schema, schema)
    for key in loc:
        inner = (s.get("items") if isinstance(key, int) else s.get("properties", {}).get(key) for s in shapes)
        shapes = [shape for node in inner if node for shape in shapes_of(schema, node)]
    return shapes


def allowed_values(schema: dict, shapes: list[dict]) -> str:
    """Enum values and bounds (``[0.5, 1)``, ``>= 1``), as the reference and the errors show them."""
    parts = []
    for s in shapes:
        low = next((f"{b}{s[k]:g}" for k, b in (("minimum", "["), ("exclusiveMinimum", "(")) if k in s), "")
        high = next((f"{s[k]:g}{b}" for k, b in (("maximum", "]"), ("exclusiveMaximum", ")")) if k in s), "")
        parts += [
            ", ".join(map(inline_yaml, s.get("enum", ()))),
            f"{low}, {high}" if high else f"{'>=' if low[:1] == '[' else '>'} {low[1:]}" if low else "",
        ]
        parts += [allowed_values(schema, shapes_of(schema, s["items"]))] if "items" in s else []
    return "; ".join(p for p in parts if p)


def inline_yaml(value: Any) -> str:
    """A value as YAML writes it inline."""
    if isinstance(value, list):
        return f"[{', '.join(map(inline_yaml, value))}]"
    return value if isinstance(value, str) and value else json.dumps(value)
