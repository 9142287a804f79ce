"""What the command line and the environment change in a config before it is validated:
``--set KEY=VALUE`` overrides (``with_overrides``, key paths checked against the JSON Schema) and
``${VAR}`` references (``interpolate``). Both work on the mapping YAML parsed, so what they bring
in is validated and hashed as if it had been written in the file. ``read_yaml`` reads YAML for both
and for the file itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from perfmon_spark.config.messages import key_path, shown, unknown_key
from perfmon_spark.config.schema import json_schema, shapes_at
from perfmon_spark.errors import ConfigError


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, with what its constructors raise besides a ``yaml.YAMLError`` (a
    ValueError for ``2020-02-30`` or ``!!int x``, an IndexError for ``!!int`` with no value, a
    KeyError for ``!!bool x``) raised as the YAML error it is, at the value's line."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, LookupError, AttributeError, TypeError) as e:
            if isinstance(node, yaml.ScalarNode):
                what = repr(node.value) if len(node.value) <= 40 else f"{node.value[:40]!r}..."
            else:
                what = f"this {node.id}"
            detail = f": {e}" if isinstance(e, ValueError) else ""
            problem = f"cannot read {what} as {node.tag.rsplit(':', 1)[-1]}{detail}"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from e


def read_yaml(text: str) -> Any:
    """``text`` as YAML, read safely (no Python objects).

    Raises:
        yaml.YAMLError: text YAML cannot read, or a value YAML cannot build (``2020-02-30``).
        RecursionError: nesting deeper than Python's stack.
    """
    return yaml.load(text, Loader=_Loader)


def yaml_value(text: str) -> Any:
    """``text`` read as YAML reads a value written after a key: what ``--set KEY=VALUE`` and a
    whole-value ``${VAR}`` give. Text YAML cannot read as one value stays text, and so does a
    comment (YAML would read ``#abc`` as null); empty text is the empty string (``null`` is null).

    >>> yaml_value("0.9"), yaml_value("true"), yaml_value("[7 days, 28 days]"), yaml_value("main.ml")
    (0.9, True, ['7 days', '28 days'], 'main.ml')
    >>> yaml_value("{ratio: 0.9}"), yaml_value("null"), yaml_value("a: b: c"), yaml_value("#abc")
    ({'ratio': 0.9}, None, 'a: b: c', '#abc')
    """
    if not text.strip():
        return text
    try:
        value = read_yaml(text)
    except (yaml.YAMLError, RecursionError):
        return text
    if value is None and text.strip() not in ("~", "null", "Null", "NULL"):
        return text
    return value


# ``$${`` (a literal ``${``) or a reference, closed or not: what ``interpolate`` looks at
_DOLLAR = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)(?P<close>\})?")
_REFERENCE = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>.*))?", re.DOTALL)


def interpolate(data: Any, env: Mapping[str, str], loc: tuple[str | int, ...] = ()) -> Any:
    """A copy of ``data`` with ``${VAR}`` and ``${VAR:-default}`` in its string values replaced by
    the environment variable's value (the default where the variable is unset or empty); ``$${``
    is a literal ``${``, any other ``$`` is kept. A value that is one reference and nothing else
    is then read as YAML reads a value (``yaml_value``): ``threshold: ${T}`` with ``T=0.9`` is the
    number 0.9, as if ``0.9`` were written there. Keys are not interpolated, nor are the values
    a variable brings in (one pass).

    >>> interpolate({"output": {"location": "${CAT}.${SCHEMA:-ml}"}, "t": "${T}"}, {"CAT": "main", "T": "0.9"})
    {'output': {'location': 'main.ml'}, 't': 0.9}
    >>> interpolate({"filter": "note = '$${x}'"}, {})
    {'filter': "note = '${x}'"}

    Raises:
        ConfigError: an unset variable without default, or a malformed reference; the line names
            the key path and the variable.
    """
    if isinstance(data, Mapping):
        return {k: interpolate(v, env, (*loc, k)) for k, v in data.items()}
    if isinstance(data, list):
        return [interpolate(v, env, (*loc, i)) for i, v in enumerate(data)]
    if not isinstance(data, str) or "${" not in data:
        return data

    def resolve(match: re.Match) -> str:
        if match[0] == "$${":
            return "${"
        ref = _REFERENCE.fullmatch(match["body"])
        if ref is None or match["close"] is None:
            raise ConfigError(
                f"{key_path(loc) or 'config'}: invalid reference {match[0]!r}; write ${{NAME}} or "
                "${NAME:-default} (NAME: letters, digits, '_'), or $${ for a literal ${"
            )
        value = env.get(ref["name"])
        if not value and ref["default"] is not None:
            return ref["default"]
        if value is None:
            raise ConfigError(
                f"{key_path(loc) or 'config'}: environment variable {ref['name']!r} is not set "
                f"(write ${{{ref['name']}:-default}} to give a default)"
            )
        return value

    text = _DOLLAR.sub(resolve, data)
    whole = _DOLLAR.fullmatch(data)
    return yaml_value(text) if whole is not None and whole[0] != "$${" else text


# an index has at most 18 digits (int() refuses more than 4300)
_KEY_STEP = re.compile(r"(?P<dot>\.?)(?P<key>[A-Za-z_][A-Za-z0-9_]*)|\[(?P<index>\d{1,18})\]")


def override_path(key: str) -> tuple[str | int, ...]:
    """The steps of a ``--set`` key path (``alerts[0].minor.ratio`` -> ``("alerts", 0, "minor",
    "ratio")``), checked against the config's schema: every key must exist where it stands, and a
    list item is ``[i]``. Below a mapping of free keys (``spark.conf``, ``baseline.values``) the
    rest of the path is one key, dots and brackets included (``spark.conf.spark.sql.shuffle.partitions``).

    Raises:
        ConfigError: not a key path, an unknown key (with the closest known one), or a key or
            index where the schema has a value of another shape.
    """
    if not key:
        raise ConfigError("--set: give a key path before '=', e.g. output.location=main.ml")
    schema, loc, pos = json_schema(), [], 0
    while pos < len(key):
        shapes, where = shapes_at(schema, tuple(loc)), key_path(loc) or "the config"
        known = list(dict.fromkeys(k for s in shapes for k in s.get("properties", {})))
        is_list = any("items" in s for s in shapes)
        rest = key[pos:]
        if loc and not known and any(isinstance(s.get("additionalProperties"), dict) for s in shapes):
            if not rest.startswith(".") or len(rest) == 1:
                break  # not a key path
            return (*loc, rest[1:])
        match = _KEY_STEP.match(key, pos)
        if match is None or bool(match["dot"]) != (pos > 0 and match["key"] is not None):
            break
        if match["key"] is not None and not known:
            shape = f"a list: give an item's index, e.g. {where}[0]" if is_list else "a single value, not a mapping"
            raise ConfigError(f"--set {shown(key)}: {where} is {shape}")
        if match["key"] is not None and match["key"] not in known:
            raise ConfigError(f"--set {key_path((*loc, match['key']))}: {unknown_key(match['key'], known)}")
        if match["index"] is not None and not is_list:
            raise ConfigError(f"--set {shown(key)}: {where} is not a list")
        loc.append(match["key"] if match["key"] is not None else int(match["index"]))
        pos = match.end()
    else:
        return tuple(loc)
    raise ConfigError(
        f"--set {shown(key)}: not a key path; give keys joined by '.' and list items as [i], e.g. alerts[0].minor.ratio"
    )


def _tree_copy(value: Any) -> Any:
    """A copy of the mappings and lists of parsed YAML that shares none of them (``copy.deepcopy``
    would keep an alias an alias)."""
    if isinstance(value, Mapping):
        return {k: _tree_copy(v) for k, v in value.items()}
    return [_tree_copy(v) for v in value] if isinstance(value, list) else value


def with_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``data`` with each ``KEY=VALUE`` of ``overrides`` applied: the value (read by
    ``yaml_value``) replaces, or adds, the one at the key path (``override_path``). Mappings on the
    way are created where the file has none (or null); a list item must exist. A mapping or list
    the file writes once and refers to twice (a YAML anchor and alias) is copied apart, so an
    override changes the place it names only.

    >>> with_overrides({"alerts": [{"minor": {"ratio": 0.9}}]}, ["alerts[0].minor.ratio=0.8", "output.location=main.ml"])
    {'alerts': [{'minor': {'ratio': 0.8}}], 'output': {'location': 'main.ml'}}

    Raises:
        ConfigError: no ``=``, a bad key path (``override_path``), an index beyond a list's end,
            or a step through a value that is not a mapping or list.
    """
    data = _tree_copy(dict(data))
    for text in overrides:
        key, equals, value = text.partition("=")
        if not equals:
            raise ConfigError(f"--set: expected KEY=VALUE, got {text!r}")
        loc = override_path(key.strip())
        node: Any = data
        for depth, step in enumerate(loc):
            where = key_path(loc[:depth])
            shown = "a mapping" if isinstance(node, dict) else "a list" if isinstance(node, list) else repr(node)
            if isinstance(step, int) and not isinstance(node, list):
                raise ConfigError(f"--set {key_path(loc)}: {where} is {shown}, not a list")
            if isinstance(step, int) and step >= len(node):
                raise ConfigError(
                    f"--set {key_path(loc)}: index {step} is beyond the end of {where} ({len(node)} items)"
                )
            if isinstance(step, str) and not isinstance(node, dict):
                raise ConfigError(f"--set {key_path(loc)}: {where} is {shown}, not a mapping; set {where} itself")
            if depth == len(loc) - 1:
                node[step] = yaml_value(value)
            else:
                child = node[step] if isinstance(step, int) else node.get(step)
                if child is None:
                    child = [] if isinstance(loc[depth + 1], int) else {}
                    node[step] = child
                node = child
    return data
