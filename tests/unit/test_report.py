"""The report's page from hand-built ``ReportData`` (no Spark): the header line, the "Needs
attention" section that opens the page, its slice ranking, and the label delays."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pandas as pd
import pytest

from perfmon_spark.alerts.rules import rule_plans
from perfmon_spark.config import parse_config
from perfmon_spark.report.model import ReportData
from perfmon_spark.report.render import (
    attention_section,
    header,
    label_delay_part,
    render,
    slices_below_baseline,
    versions_section,
)
from perfmon_spark.vocabulary import OVERALL, AlertStatus, Level
from tests.helpers import perfmon_without_java, with_changes

AS_OF = datetime(2026, 3, 1)
MATURE_END = pd.Timestamp("2026-01-30")  # the latest window ending max_delay (30 days) before as_of
NEWER_END = pd.Timestamp("2026-02-20")  # a window whose labels are still arriving
CFG = parse_config(
    with_changes(
        alerts=[
            {
                "name": "auc_drop",
                "metric": "roc_auc",
                "window": "7 days",
                "minor": {"ratio": 0.95},
                "sustained": {"ratio": 0.90, "consecutive": 3},
                "critical": {"ratio": 0.80},
            }
        ]
    )
)
PLAN = rule_plans(CFG)["auc_drop"]


def window(country, value, end=MATURE_END, version="v3", baseline=0.75, n_labeled=1000):
    """One row of ``rule_histories`` for the rule, a country slice (``*``: overall)."""
    return {
        "rule": "auc_drop",
        "model_version": version,
        "slice_key": OVERALL if country == OVERALL else "country",
        "slice_value": country,
        "window": "7 days",
        "window_start": end - pd.Timedelta(days=7),
        "window_end": end,
        "metric": "roc_auc",
        "value": value,
        "ci_lower": value - 0.02,
        "ci_upper": value + 0.02,
        "n_predictions": 2 * n_labeled,
        "n_labeled": n_labeled,
        "label_coverage": 0.5,
        "is_mature": end <= MATURE_END,
        "baseline": baseline,
        "n_positive": n_labeled // 10,
        "n_negative": n_labeled - n_labeled // 10,
    }


HISTORIES = pd.DataFrame(
    [
        window(OVERALL, 0.60),  # the overall slice is never a slice to list
        window("BR", 0.68),  # fell from 0.75 to 0.68: past MINOR (0.7125), not SUSTAINED (0.675)
        window("MX", 0.55),  # past CRITICAL (0.60)
        window("FR", 0.50, end=MATURE_END - pd.Timedelta(days=7)),  # bad a week earlier ...
        window("FR", 0.74),  # ... healthy in the latest mature window
        window("DE", 0.76),  # healthy once mature ...
        window("DE", 0.60, end=NEWER_END, n_labeled=400),  # ... but falling while labels arrive
        window("US", 0.40, n_labeled=50),  # too few labels to judge (min_labeled 200)
        window("BR", 0.40, version="v1", end=MATURE_END - pd.Timedelta(days=60)),  # a retired version
    ]
)


def empty() -> pd.DataFrame:
    return pd.DataFrame()


def series(*ends) -> pd.DataFrame:
    """Overall perf_metrics rows of roc_auc, one per window end."""
    return pd.DataFrame(
        [
            {
                "model_version": "v3",
                "slice_key": OVERALL,
                "slice_value": OVERALL,
                "window": "7 days",
                "window_end": pd.Timestamp(end),
                "metric": "roc_auc",
                "value": 0.8,
                "ci_lower": 0.78,
                "ci_upper": 0.82,
                "n_labeled": 1000,
                "label_coverage": 0.9,
                "expected_coverage": 0.95,
            }
            for end in ends
        ],
        columns=[
            "model_version",
            "slice_key",
            "slice_value",
            "window",
            "window_end",
            "metric",
            "value",
            "ci_lower",
            "ci_upper",
            "n_labeled",
            "label_coverage",
            "expected_coverage",
        ],
    )


DATA = ReportData(
    cfg=CFG,
    as_of=AS_OF,
    last_run={"run_id": "r6", "mode": "incremental"},
    metrics=("roc_auc",),
    series=series("2026-02-01", "2026-02-08"),
    slices=empty(),
    heat_metric="roc_auc",
    heat_window="7 days",
    histories=HISTORIES,
    rule_windows=empty(),
    alerts=empty(),
    status=empty(),
    decisions=empty(),
    curves=empty(),
    drift=empty(),
    drift_performance=empty(),
    drift_correlation=empty(),
    comparisons=empty(),
    warnings=(),
    label_delay=None,
)


def alert(level, country):
    return {
        "rule": "auc_drop",
        "model_version": "v3",
        "slice_key": "country",
        "slice_value": country,
        "window": "7 days",
        "metric": "roc_auc",
        "level": level,
        "status": AlertStatus.OPEN,
        "value": 0.6,
        "ci_lower": 0.58,
        "ci_upper": 0.62,
        "baseline": 0.75,
        "threshold": 0.7125,
        "opened_window_start": pd.Timestamp("2026-01-20"),
    }


def test_the_header_has_no_empty_field_with_or_without_charts():
    fields = f"binary monitor; as of 2026-03-01 00:00 UTC (run r6, incremental); tables in {CFG.output.location.text}"
    assert header(DATA) == f'<p class="meta">{fields}; charts from 2026-02-01, at each window\'s end</p>'
    assert header(replace(DATA, series=series())) == f'<p class="meta">{fields}</p>'


def test_slices_below_baseline_lists_the_worst_first_and_no_healthy_one():
    worst = slices_below_baseline(HISTORIES, PLAN)
    listed = list(zip(worst["model_version"], worst["slice_value"], worst["level"], worst["is_mature"]))
    assert listed == [
        ("v3", "MX", Level.CRITICAL, True),
        ("v3", "BR", Level.MINOR, True),
        ("v3", "DE", Level.CRITICAL, False),  # after the mature ones: its labels are still arriving
    ]
    assert worst["change"].tolist() == pytest.approx([-0.20, -0.07, -0.15])


def test_a_smaller_is_better_metric_lists_the_largest_rise_first():
    cfg = parse_config(
        with_changes(
            metrics=["log_loss"],
            alerts=[{"name": "loss", "metric": "log_loss", "window": "7 days", "minor": {"ratio": 0.95}}],
        )
    )
    rows = pd.DataFrame([window(c, v, baseline=0.30) for c, v in (("BR", 0.36), ("MX", 0.40), ("FR", 0.30))])
    worst = slices_below_baseline(rows.assign(rule="loss", metric="log_loss"), rule_plans(cfg)["loss"])
    assert worst["slice_value"].tolist() == ["MX", "BR"]


def test_needs_attention_opens_the_page_before_any_chart():
    page = render(replace(DATA, alerts=pd.DataFrame([alert(Level.MINOR, "BR")])))
    first_chart = page.index('class="plotly-graph-div"')
    attention = page.index("<h2>Needs attention</h2>")
    assert attention < first_chart
    for slice_ in ("country=MX", "country=BR", "country=DE"):
        assert attention < page.index(slice_) < first_chart
    assert page.index("country=MX") < page.index("country=DE")


def test_needs_attention_marks_minor_and_immature_movements():
    html = attention_section(DATA)
    rows = {r.split("</td>")[2]: r for r in html.split("<tr>")[2:]}  # by the slice cell
    assert rows["<td>country=BR"].count("<td>minor</td>") == 1
    assert "<td>not yet mature</td>" in rows["<td>country=DE"]
    assert "<td>-</td></tr>" in rows["<td>country=MX"]
    assert "country=FR" not in html and "country=US" not in html


def test_needs_attention_lists_the_worst_open_alerts_and_counts_the_rest():
    alerts = pd.DataFrame([alert(Level.MINOR, f"c{i}") for i in range(6)] + [alert(Level.CRITICAL, "BR")])
    html = attention_section(replace(DATA, alerts=alerts, histories=HISTORIES.iloc[:0]))
    assert "<h3>Open alerts (7)</h3>" in html and "... and 2 more open alerts" in html
    assert html.index("CRITICAL") < html.index("MINOR")
    assert "Open alerts: none." in attention_section(replace(DATA, alerts=alerts.assign(status=AlertStatus.RESOLVED)))


def test_needs_attention_shows_the_run_warnings_or_says_there_are_none():
    warned = replace(DATA, warnings=(("LATE_LABELS_IGNORED", "19.0% of label events arrived after max_delay"),))
    assert "<li><b>LATE_LABELS_IGNORED</b>: 19.0% of label events arrived after max_delay</li>" in attention_section(
        warned
    )
    assert "Run r6: no warnings." in attention_section(DATA)
    assert "recorded no warnings list" in attention_section(replace(DATA, warnings=None))


def test_label_delay_shows_the_quantiles_the_late_share_and_max_delay():
    delay = {"p50": 2.5, "p90": 20.0, "p99": 41.25, "max": 45.0, "share_beyond_max_delay": 0.187}
    html = label_delay_part(replace(DATA, label_delay=delay))
    cells = [c.split("</td>")[0] for c in html.split('<td class="num">')[1:]]
    assert cells == ["2.500", "20.000", "41.250", "45.000", "18.7%", "30 days"]
    assert "none recorded" in label_delay_part(DATA)


def test_report_without_the_report_extra_is_one_line(tmp_path):
    printed = perfmon_without_java(
        ("plotly",), ["report", "--config", "conf/demo.yml", "--out", str(tmp_path / "r.html")], tmp_path
    )
    assert (printed.returncode, printed.stdout) == (1, "")
    assert (
        printed.stderr
        == "error: perfmon report needs plotly, which is not installed: pip install 'perfmon-spark[report]'\n"
    )
    assert not (tmp_path / "r.html").exists()


def test_the_versions_section_shows_each_latest_comparison_with_its_verdict_and_the_overall_beside_it():
    assert versions_section(DATA) == ""  # no versions configured
    row = {
        "challenger": "v8",
        "champion": "v7",
        "metric": "roc_auc",
        "window": "7 days",
        "window_start": int(pd.Timestamp("2026-02-01").timestamp()),
        "difference": -0.0312,
        "ci_lower": -0.051,
        "ci_upper": -0.0114,
        "unadjusted_difference": 0.0123,
        "n_labeled_champion": 1200,
        "n_labeled_challenger": 310,
        "verdict": "WORSE",
    }
    html = versions_section(replace(DATA, comparisons=pd.DataFrame([row])))
    cells = ["v8", "v7", "roc_auc", "7 days", "2026-02-01", "-0.031 [-0.051, -0.011]", "0.012", "310 / 1200"]
    assert "".join(f"<td>{c}</td>" if i < 5 else f'<td class="num">{c}</td>' for i, c in enumerate(cells)) in html
    assert '<span class="badge WORSE">WORSE</span>' in html and "on the overall slice (no segment column" in html
