"""Reading a config: the YAML file, the command line's overrides and ``${VAR}`` references
(``overrides``), table paths made absolute, validation into the ``MonitorConfig`` of its problem
type with its errors as one line (``messages``), and the ``source_hash`` that tells a run its config
changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from perfmon_spark.config.messages import key_path, one_line
from perfmon_spark.config.model import CONFIGS, MonitorConfig
from perfmon_spark.config.overrides import interpolate, read_yaml, with_overrides
from perfmon_spark.config.types import TableRef, resolve_path
from perfmon_spark.errors import ConfigError


def load_config(path: str | Path, overrides: Sequence[str] = (), env: Mapping[str, str] | None = None) -> MonitorConfig:
    """Read and validate a YAML config file; relative table paths are relative to its folder.

    The file's values are read in three steps, each working on what YAML parsed: ``overrides``
    (``perfmon ... --set KEY=VALUE``) replace values by key path (``with_overrides``), then
    ``${VAR}`` references are resolved from ``env`` (``interpolate``), then the result is validated
    and hashed by ``parse_config``. So a value given by ``--set`` or by a variable is validated and
    hashed exactly as if it had been written in the file.

    Args:
        path: the YAML file.
        overrides: ``KEY=VALUE`` texts, applied in order (a later one wins).
        env: where ``${VAR}`` is looked up (default: the process environment).

    Raises:
        ConfigError: unreadable file, bad YAML, a bad override or reference, or any invalid key or value.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config file {str(path)!r}: {e.strerror}") from e
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start})") from e
    try:
        data = _as_json(read_yaml(text))
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML{_yaml_problem(e)}") from e
    except RecursionError as e:
        raise ConfigError(f"{path}: invalid YAML: nested deeper than Python can read") from e
    if isinstance(data, Mapping):  # anything else is parse_config's error
        data = interpolate(with_overrides(data, overrides), os.environ if env is None else env)
    return parse_config(data, base_dir=Path(path).resolve().parent)


# Dotted key paths that change how a run is executed or reported, never a value it writes: tuning the
# session (memory, shuffle partitions), failing on warnings or warning sooner, how long a run may
# hold the monitor, or keeping removed files longer (``perfmon maintain``) must not cost a full recompute.
UNHASHED = ("spark", "strict", "run_timeout", "labels.warn_ignored_share", "output.retention")

# Top-level sections that shape only the alerting tables, never a state or a metric: every run
# evaluates every rule again over all the stored metrics (``job.alerting``), so an edit of these
# alone keeps the states and the run stays incremental. ``baseline`` is not one of them: it also
# fixes the period the drift bins are taken from.
ALERTING_ONLY = ("alerts", "alerts_fdr", "notifications", "retrain")


def changed_sections(recorded: Mapping[str, str] | None, now: Mapping[str, str]) -> tuple[str, ...] | None:
    """The top-level sections whose hash differs between a run's ``config_sections`` and ``now``
    (present in one only included), sorted; None where the run recorded none (a runs row written
    before the column existed).

    >>> changed_sections({"alerts": "a1", "metrics": "m1"}, {"alerts": "a2", "metrics": "m1", "kpis": "k1"})
    ('alerts', 'kpis')
    >>> changed_sections(None, {"metrics": "m1"}) is None
    True
    """
    if recorded is None:
        return None
    return tuple(sorted(k for k in recorded.keys() | now.keys() if recorded.get(k) != now.get(k)))


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def parse_config(data: Any, base_dir: str | Path | None = None) -> MonitorConfig:
    """Validate an already-parsed mapping; see ``load_config``.

    The mapping is validated as JSON text, the form ``source_hash`` hashes: a strict tuple field
    takes a JSON list but no Python list, and a YAML value JSON has no type for (a date, a number
    as a mapping key) reaches validation as its text (``_as_json``). Table paths are made absolute in the mapping
    before validation, not by a validator reading ``base_dir`` from pydantic's validation context,
    because the hash must see them absolute too.

    Args:
        data: the YAML as Python values.
        base_dir: the folder relative table paths are resolved against (default: the working
            directory).

    Raises:
        ConfigError: one line naming the key path, the bad value and what is allowed.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"config: expected a mapping, got {type(data).__name__} {data!r}")
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    data = _as_json(data)
    for section, key in _path_keys():  # a relative and an absolute path to a table are one config
        value = data.get(section)
        if isinstance(value, Mapping) and isinstance(value.get(key), str) and value[key].strip():
            data[section] = {**value, key: resolve_path(value[key], base)}
    text = json.dumps(data, sort_keys=True, default=str)
    try:
        cfg = CONFIGS.validate_json(text)
    except ValidationError as e:
        raise one_line(e) from e
    hashed = _without(data, UNHASHED)
    cfg._source_hash = _digest(hashed)
    cfg._section_hashes = {key: _digest(value) for key, value in hashed.items()}
    return cfg


def _yaml_problem(e: yaml.YAMLError) -> str:
    """Where and what PyYAML found wrong, as one line: `` at line 3: found undefined alias 'a'``."""
    mark = getattr(e, "problem_mark", None)
    where = f" at line {mark.line + 1}" if mark else ""
    where = f" at character {e.position + 1}" if isinstance(e, yaml.reader.ReaderError) else where
    problem = getattr(e, "problem", None) or (str(e).splitlines() or [type(e).__name__])[0]
    return f"{where}: {problem}"


# Deeper than any key path of the schema (``alerts[0].maturity.min_coverage`` is 4), shallower than
# the nesting pydantic's JSON parser and Python's stack refuse
MAX_DEPTH = 32
# More than any setting and than a float holds, fewer than Python prints (YAML reads 0xfff... as well)
MAX_INT_BITS = 1024


def _as_json(value: Any, loc: tuple[str | int, ...] = (), inside: frozenset[int] = frozenset()) -> Any:
    """A copy of parsed YAML in the shape JSON holds, what is validated and hashed: a mapping's
    keys are text as JSON writes them (``1`` -> ``"1"``, ``true`` -> ``"true"``, a date as its
    ISO text), so that keys of mixed types sort, and every list and mapping is its own copy.

    Raises:
        ConfigError: a mapping or list inside itself (a YAML alias within its anchor), nesting
            deeper than ``MAX_DEPTH``, or an integer of more than ``MAX_INT_BITS`` bits.
    """
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ConfigError(f"{key_path(loc) or 'config'}: an integer of more than {MAX_INT_BITS} bits is too large")
    if not isinstance(value, (Mapping, list, tuple)):
        return value
    if id(value) in inside:
        raise ConfigError(f"{key_path(loc) or 'config'}: contains itself (a YAML alias within its own anchor)")
    if len(loc) >= MAX_DEPTH:
        raise ConfigError(f"{key_path(loc)}: nested more than {MAX_DEPTH} levels deep")
    inside |= {id(value)}
    if not isinstance(value, Mapping):
        return [_as_json(item, (*loc, i), inside) for i, item in enumerate(value)]
    copied = {}
    for key, item in value.items():
        if not isinstance(key, str):  # 1, 1.5, true and null as JSON writes them; a date as its ISO text
            _as_json(key, loc)  # an integer too large is refused as a key too
            key = json.dumps(key) if key is None or isinstance(key, (int, float)) else str(key)
        copied[key] = _as_json(item, (*loc, key), inside)
    return copied


def _without(data: Mapping[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    """A copy of ``data`` without the keys at the dotted ``paths`` (``labels.warn_ignored_share``):
    what ``source_hash`` hashes. ``data`` is left as it is."""
    kept = {}
    for key, value in data.items():
        if key in paths:
            continue
        inner = tuple(p.removeprefix(f"{key}.") for p in paths if p.startswith(f"{key}."))
        kept[key] = _without(value, inner) if inner and isinstance(value, Mapping) else value
    return kept


def _path_keys() -> Iterator[tuple[str, str]]:
    """(section, key) of every table reference."""
    for section, info in MonitorConfig.model_fields.items():
        for key, f in getattr(info.annotation, "model_fields", {}).items():
            if TableRef in (f.annotation, *getattr(f.annotation, "__args__", ())):
                yield section, key
