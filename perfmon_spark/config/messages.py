"""How a config error reads: one line naming the key path (``alerts[0].window``), the bad value
and what is allowed, whether pydantic, a section's own check (``Invalid``), a rule across sections
or an override found it. What is allowed is read from the JSON Schema (the branch of the config's
problem type), as the reference shows it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from pydantic import ValidationError

from perfmon_spark.config.schema import allowed_values, branches, json_schema, shapes_at
from perfmon_spark.config.types import PATTERNS
from perfmon_spark.errors import ConfigError


def key_path(loc: Sequence[str | int]) -> str:
    """``("alerts", 0, "minor")`` -> ``alerts[0].minor``: how errors name a key."""
    return "".join(f"[{k}]" if isinstance(k, int) else f".{shown(str(k))}" for k in loc).removeprefix(".")


def shown(text: str) -> str:
    """A key as an error shows it: as written, or quoted with escapes (``'id\\r'``) if it holds a
    line break or another unprintable character, so that the error stays one line."""
    return text if text.isprintable() else repr(text)


# pydantic's type errors, by the YAML type that was expected
_EXPECTED = {"int_type": "int", "float_type": "int or float", "string_type": "str", "bool_type": "bool"}
_EXPECTED |= {"model_type": "dict", "dict_type": "dict", "tuple_type": "list"}
_BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def one_line(error: ValidationError) -> ConfigError:
    """The first error of validating a config (``model.CONFIGS``) as ``path: what is wrong with the
    value; what is allowed``; the allowed values and bounds are read from the schema's branch of
    the config's problem type, as the reference shows them."""
    first, schema = error.errors()[0], json_schema()
    of_type = branches(schema)
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):  # no problem type to choose a branch by
        return ConfigError(_tag_error(schema, first["input"]))
    # pydantic's path starts with the tag of the branch (``ranking.ranking.k``); the YAML's does not
    tag, errors = first["loc"][0], [{**e, "loc": e["loc"][1:]} for e in error.errors()]
    loc, kind, value, ctx = errors[0]["loc"], errors[0]["type"], errors[0].get("input"), errors[0].get("ctx", {})
    branch = of_type[tag]
    if kind == "extra_forbidden":  # before a union's members: an unknown key may be named ``int``
        message = _extra_key(schema, of_type, tag, loc)
    elif loc and loc[-1] in ("int", "str", "float", "bool"):  # pydantic names a union's members in the path
        kinds = [e["loc"][-1] for e in errors if e["loc"][:-1] == loc[:-1]]
        loc, message = loc[:-1], f"expected {' or '.join(kinds)}, got {type(value).__name__} {value!r}"
    elif kind == "missing":
        message = "required key is missing"
    elif kind in _EXPECTED:
        message = f"expected {_EXPECTED[kind]}, got {type(value).__name__} {value!r}"
    elif kind == "literal_error":  # an unknown item of ``levels`` is an unknown level
        noun = str(loc[-2]).removesuffix("s") if isinstance(loc[-1], int) else "value"
        message = f"unknown {noun} {value!r}; allowed: {allowed_values(schema, shapes_at(schema, loc, branch))}"
    elif kind in _BOUND_ERRORS:
        allowed = allowed_values(schema, shapes_at(schema, loc, branch))
        message = f"{value!r} must be {'in ' if ',' in allowed else ''}{allowed}"
    elif kind == "string_pattern_mismatch":
        message = PATTERNS[ctx["pattern"]].format(value)
    elif kind == "too_short":  # only a crossed segment has a least length
        message = f"expected a list of {ctx['min_length']} or more column names, got {value!r}"
    else:  # our own checks (Invalid), and anything pydantic words itself
        loc += getattr(ctx.get("error"), "key", ())
        message = str(ctx["error"]) if "error" in ctx else errors[0]["msg"]
    return ConfigError(f"{key_path(loc) or 'config'}: {message}")


def _tag_error(schema: dict, data: dict) -> str:
    """What is wrong with the key that chooses a config's branch (``problem_type``), which pydantic
    reports at the config, not at the key: missing, or not a problem type."""
    key = schema["discriminator"]["propertyName"]
    if key not in data:
        return f"{key}: required key is missing"
    return f"{key}: unknown value {data[key]!r}; allowed: {', '.join(branches(schema))}"


def _properties(shapes: list[dict]) -> dict:
    return next((s["properties"] for s in shapes if "properties" in s), {})


def _extra_key(schema: dict, of_type: dict[str, dict], tag: str, loc: tuple) -> str:
    """What is wrong with a key the branch of problem type ``tag`` does not know at ``loc``: a key of
    other problem types only (``ranking`` in a binary config), or an unknown key."""
    key, where = str(loc[-1]), loc[:-1]
    owners = [other for other, branch in of_type.items() if key in _properties(shapes_at(schema, where, branch))]
    if owners:
        return f"applies to problem_type {' or '.join(owners)} only, not {tag}"
    return unknown_key(key, _properties(shapes_at(schema, where, of_type[tag])))


def unknown_key(key: str, known: Iterable[str]) -> str:
    """What is wrong with an unknown key: the closest known key (a typo is the usual cause), then
    every known one, in the schema's order."""
    known = list(known)
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown key {key!r}; {hint}known keys: {', '.join(known)}"
