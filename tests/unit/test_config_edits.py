"""Config edits between runs (#37 item 3), without Spark: each top-level section is hashed apart, an
edit of the alerting sections alone keeps the states, any other edit makes a full run that names
the sections, and a watermark written before sections were recorded falls back to the whole hash
(tests/spark/test_incremental.py runs both edits on a lake)."""

from __future__ import annotations

from datetime import datetime

import pytest

from perfmon_spark.config import ALERTING_ONLY, changed_sections, parse_config
from perfmon_spark.config.model import MonitorConfig
from perfmon_spark.job.scope import Watermark, config_edit
from tests.helpers import with_changes

RULE = {"name": "accuracy_drop", "metric": "accuracy", "minor": {"ratio": 0.95}}


def watermark(cfg: MonitorConfig, sections: dict[str, str] | None) -> Watermark:
    when = datetime(2026, 3, 1)
    return Watermark(when, 3, 4, cfg.source_hash, 1, sections, "incremental", when)


def test_each_section_is_hashed_apart_and_the_whole_hash_moves_with_any_of_them():
    cfg = parse_config(with_changes())
    assert set(cfg.section_hashes) == set(with_changes())
    edited = parse_config(with_changes(alerts=[RULE], labels__max_delay="3 days"))
    assert changed_sections(cfg.section_hashes, edited.section_hashes) == ("alerts", "labels")
    assert edited.source_hash != cfg.source_hash
    # keys that change no written value are in no section's hash either
    tuned = parse_config(with_changes(strict=True, labels__warn_ignored_share=0.5, spark={"master": "local[4]"}))
    assert (tuned.source_hash, tuned.section_hashes) == (cfg.source_hash, cfg.section_hashes)


@pytest.mark.parametrize(
    "changes, sections",
    [
        ({"alerts": [RULE]}, ("alerts",)),
        ({"alerts": [RULE], "alerts_fdr": None}, ("alerts", "alerts_fdr")),
        (
            {
                "retrain": {"cooldown": "3 days"},
                "notifications": [{"type": "webhook", "name": "hook", "url_env": "HOOK"}],
            },
            ("notifications", "retrain"),
        ),
    ],
)
def test_an_edit_of_the_alerting_sections_alone_keeps_the_states_and_is_named(changes, sections):
    before = parse_config(with_changes())
    now = parse_config(with_changes(**changes))
    assert set(sections) <= set(ALERTING_ONLY)
    assert config_edit(watermark(before, before.section_hashes), now) == (
        None,
        f"; config edited ({', '.join(sections)}): states kept, every rule evaluated again",
    )


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"metrics": ["accuracy", "recall"]}, "metrics"),
        ({"baseline": {"source": "window", "window": "2 days"}}, "baseline"),  # it also fixes the drift bins
        ({"alerts": [RULE], "windows": {"granularity": "1 hour"}}, "alerts, windows"),
    ],
)
def test_any_other_edit_is_a_full_run_naming_the_sections(changes, named):
    before = parse_config(with_changes())
    now = parse_config(with_changes(**changes))
    assert config_edit(watermark(before, before.section_hashes), now) == (
        f"config changed since the last run ({named})",
        "",
    )


def test_no_edit_and_an_unrecorded_edit():
    cfg = parse_config(with_changes())
    assert config_edit(watermark(cfg, cfg.section_hashes), cfg) == (None, "")
    assert config_edit(watermark(cfg, None), cfg) == (None, "")  # the whole hash says nothing changed
    edited = parse_config(with_changes(alerts=[RULE]))
    # a runs row from before sections were recorded cannot tell an alerting edit apart
    assert config_edit(watermark(cfg, None), edited) == ("config changed since the last run", "")
