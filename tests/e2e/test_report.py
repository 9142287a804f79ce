"""The demo's report in headless Chromium (Debian's, driven by Playwright) with every request
but the file itself blocked and counted; ``perfmon export`` to a real Pushgateway; ``perfmon
status``. All three read the demo's output tables and are checked against those tables in pandas."""

from __future__ import annotations

import base64
import shutil
import time

import numpy as np
import pandas as pd
import pytest

from perfmon_spark.config import load_config
from perfmon_spark.export import export_prometheus
from perfmon_spark.job.label_delay import QUANTILES, SHARE_BEYOND
from perfmon_spark.report import ReportOptions, write_report
from perfmon_spark.report.render import slug
from perfmon_spark.status import status_report
from perfmon_spark.vocabulary import ALL_VERSIONS, OVERALL, AlertStatus, Level, RunStatus
from tests.helpers import read_back, read_table

pytestmark = pytest.mark.e2e
CHROMIUM_ARGS = [  # no background traffic of the browser's own, which would count as the page's
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 900}  # the first screen: what a reader sees without scrolling
# Where the first screen's parts are, and the cells of the tables the checks compare with the tables.
FIRST_SCREEN = """() => {
  const heading = (tag, start) => [...document.querySelectorAll(tag)].find(h => h.textContent.startsWith(start));
  const cells = table => table ? [...table.querySelectorAll('tbody tr')].map(tr => [...tr.cells].map(td => td.innerText)) : [];
  const slices = heading('h3', 'Slices below their baseline');
  const delay = heading('h3', 'Label delay');
  return {
    first_h2: document.querySelector('h2').textContent,
    attention_top: heading('h2', 'Needs attention').getBoundingClientRect().top,
    plot_top: document.querySelector('.js-plotly-plot').getBoundingClientRect().top,
    slices_top: slices ? slices.getBoundingClientRect().top : null,
    slices: cells(slices && slices.nextElementSibling.nextElementSibling),
    delay: cells(delay && delay.nextElementSibling),
  };
}"""


def plotted(values) -> list:
    """A trace's values as plotly.js holds them: a list, or plotly.py's base64 typed array."""
    if isinstance(values, dict):
        return np.frombuffer(
            base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"]).newbyteorder("<")
        ).tolist()
    return list(values or [])


@pytest.fixture(scope="module")
def tables(spark, demo):
    folder, _ = demo
    cfg = load_config(folder / "perfmon.yml")

    def mine(name):
        rows = read_table(spark, folder / "monitoring" / name)
        return rows[rows["monitor"] == cfg.name]

    return cfg, {n: mine(n) for n in ("perf_metrics", "perf_alerts", "model_status", "runs", "version_comparison")}


@pytest.fixture(scope="module")
def page(spark, tables, tmp_path_factory):
    from playwright.sync_api import sync_playwright

    cfg, _ = tables
    out = tmp_path_factory.mktemp("report") / "report.html"
    start = time.perf_counter()
    size = write_report(spark, cfg, out, ReportOptions())
    print(f"report: {size / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s")  # figures for the notes
    blocked = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        view = browser.new_page(viewport=VIEWPORT)

        def route(r):
            if r.request.url == out.as_uri():
                r.continue_()
            else:
                blocked.append(r.request.url)
                r.abort()

        view.route("**/*", route)
        view.goto(out.as_uri())
        view.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 5")
        traces = view.evaluate(
            "Object.fromEntries([...document.querySelectorAll('.js-plotly-plot')]"
            ".map(d => [d.id, d.data.map(t => ({name: t.name, x: t.x, y: t.y}))]))"
        )
        traces = {k: [{**t, "y": plotted(t["y"])} for t in v] for k, v in traces.items()}
        text = view.inner_text("body")
        first_screen = view.evaluate(FIRST_SCREEN)  # before the full-page screenshot scrolls
        view.screenshot(path=str(out.with_suffix(".png")), full_page=True)
        browser.close()
    return {
        "size": size,
        "blocked": blocked,
        "traces": traces,
        "text": text,
        "png": out.with_suffix(".png"),
        "first_screen": first_screen,
    }


def test_the_report_opens_offline_with_a_plot_per_metric(page, tables):
    cfg, _ = tables
    assert page["blocked"] == []
    assert page["size"] < 10e6 and page["png"].stat().st_size > 0
    plots = page["traces"]
    assert {f"metric-{slug(m)}" for m in cfg.metric_names} <= set(plots)
    assert {"label-coverage", "pr-curves", "slice-heatmap", "drift-psi"} <= set(plots)
    assert len(plots) == len(cfg.metric_names) + 4
    for m in cfg.metric_names:
        names = {t["name"] for t in plots[f"metric-{slug(m)}"]}
        levels = {f"{lv.level} threshold" for r in cfg.alerts if r.metric == m for lv in r.levels}
        assert {n for n in names if n and n.endswith(" threshold")} == levels, m
    assert "Model status and retrain decisions" in page["text"] and "Open alerts" in page["text"]
    assert "Versions compared" in page["text"]


def test_the_plotted_values_thresholds_and_alerts_are_the_tables(page, tables):
    cfg, t = tables
    rule = cfg.alerts[0]
    traces = {tr["name"]: tr for tr in page["traces"][f"metric-{slug(rule.metric)}"]}
    m = t["perf_metrics"]
    line = traces[f"v3 ({rule.window})"]
    expected = m[
        (m["model_version"] == "v3")
        & (m["metric"] == rule.metric)
        & (m["window"] == rule.window)
        & (m["slice_key"] == OVERALL)
    ].sort_values("window_end")
    assert line["y"] == pytest.approx(expected["value"].tolist(), nan_ok=True)
    alerts = t["perf_alerts"]
    critical = alerts[
        (alerts["level"] == Level.CRITICAL) & (alerts["status"] == AlertStatus.OPEN) & (alerts["slice_key"] == OVERALL)
    ]
    assert len(critical) == 1
    episode = critical.iloc[0]
    # the CRITICAL threshold drawn at the episode's last window is the one the alerting stage stored
    last_end = episode["last_window_start"] + pd.Timedelta(rule.window)
    crossings = [
        tr["y"][[str(x)[:10] for x in tr["x"]].index(f"{last_end:%Y-%m-%d}")]
        for tr in page["traces"][f"metric-{slug(rule.metric)}"]
        if tr["name"] == "CRITICAL threshold" and f"{last_end:%Y-%m-%d}" in [str(x)[:10] for x in tr["x"]]
    ]
    assert any(c == pytest.approx(episode["threshold"], rel=1e-9) for c in crossings), crossings
    assert episode["value"] in [pytest.approx(v) for v in traces["CRITICAL alert"]["y"]]


def test_the_first_screen_opens_with_what_needs_attention(page, tables):
    """Before any chart and on the first screen: the open alerts, the slices below their baseline
    (each row the perf_metrics value of its latest window, mature ones first) and the warnings."""
    cfg, t = tables
    screen = page["first_screen"]
    assert screen["first_h2"] == "Needs attention" and screen["attention_top"] < screen["plot_top"]
    if screen["slices_top"] is not None:
        assert screen["slices_top"] < VIEWPORT["height"]
    n_open = int((t["perf_alerts"]["status"] == AlertStatus.OPEN).sum())
    assert (f"Open alerts ({n_open})" if n_open else "Open alerts: none.") in page["text"]
    rule, m = cfg.alerts[0], t["perf_metrics"]
    for _level, version, where, end, value, baseline, _change, _n, note in screen["slices"]:
        key, slice_value = where.split("=", 1)
        row = m[
            (m["model_version"] == (ALL_VERSIONS if version == "all versions" else version))
            & (m["slice_key"] == key)
            & (m["slice_value"] == slice_value)
            & (m["metric"] == rule.metric)
            & (m["window"] == rule.window)
            & (m["window_end"].dt.strftime("%Y-%m-%d") == end)
        ]
        assert len(row) == 1, (version, where, end)
        assert value.split()[0] == f"{row['value'].iloc[0]:.3f}" and float(value.split()[0]) < float(baseline)
        assert ("not yet mature" in note) == (not row["is_mature"].iloc[0])
    immature = ["not yet mature" in r[-1] for r in screen["slices"]]
    assert immature == sorted(immature)


def test_the_run_warnings_and_label_delays_are_the_runs_row(page, tables):
    cfg, t = tables
    runs = t["runs"]
    last = runs[runs["status"] == RunStatus.SUCCEEDED].sort_values("started_at").iloc[-1]
    warnings = last["warnings"]
    if warnings is None:  # what the report says of a runs row written before warnings were recorded
        expected = ["recorded no warnings list"]
    elif len(warnings) == 0:
        expected = [f"Run {last['run_id']}: no warnings."]
    else:
        expected = [f"{w['code']}: {w['message']}" for w in warnings]
    assert all(e in page["text"] for e in expected), expected
    delay = None if last["label_delay"] is None else dict(last["label_delay"])
    if delay is None:
        assert page["first_screen"]["delay"] == []
    else:
        assert page["first_screen"]["delay"] == [
            [
                *(f"{delay[k]:.3f}" for k in (*QUANTILES, "max")),
                f"{delay[SHARE_BEYOND]:.1%}",
                cfg.labels.max_delay.text,
            ]
        ]


def test_export_pushes_the_latest_value_of_every_series(spark, tables, gateway):
    cfg, t = tables
    series, open_alerts = export_prometheus(spark, cfg, gateway)
    pushed = read_back(gateway, cfg.name)
    m = t["perf_metrics"].dropna(subset=["value"])
    key = ["model_version", "slice_key", "slice_value", "window", "metric"]
    latest = m[m["window_start"] == m.groupby(key)["window_start"].transform("max")]
    assert series == len(latest)
    values = {
        tuple(dict(labels)[k] for k in key): v for (name, labels), v in pushed.items() if name == "perfmon_metric_value"
    }
    assert len(values) == len(latest)
    for r in latest.sample(50, random_state=0).itertuples():
        assert values[(r.model_version, r.slice_key, r.slice_value, r.window, r.metric)] == pytest.approx(r.value)
    levels = [v for (name, _), v in pushed.items() if name == "perfmon_alert_level"]
    expected = t["perf_alerts"][t["perf_alerts"]["status"] == AlertStatus.OPEN]
    assert open_alerts == len(expected) and sorted(levels) == sorted(Level(lv).rank for lv in expected["level"])


def test_status_lists_every_version_and_open_alert(spark, tables):
    cfg, t = tables
    text = status_report(spark, cfg)
    lines = text.splitlines()
    for r in t["model_status"].itertuples():
        assert any(line.split()[:2] == [r.model_version, r.status] for line in lines), r.model_version
    open_alerts = t["perf_alerts"][t["perf_alerts"]["status"] == AlertStatus.OPEN]
    title = next(line for line in lines if line.startswith("open alerts:"))
    for level, n in open_alerts["level"].value_counts().items():
        assert f"{n} {level}" in title

    # each challenger's latest comparison per metric and window, with its verdict (the demo: v2 against v3)
    compared = t["version_comparison"].dropna(subset=["difference"])  # the latest window with labels on both sides
    series = ["challenger", "metric", "window"]
    latest = compared[compared["window_start"] == compared.groupby(series)["window_start"].transform("max")]
    assert len(latest) == len(cfg.compared_metrics) * len(cfg.window_lengths) * len(cfg.versions.challengers)
    for r in latest.itertuples():
        head = [r.challenger, r.champion, r.metric, *r.window.split()]
        (line,) = [line for line in lines if line.split()[: len(head)] == head]
        assert line.split()[-1] == r.verdict and f"{r.n_labeled_challenger} / {r.n_labeled_champion}" in line
