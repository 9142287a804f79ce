"""The report's HTML, from ``model.ReportData`` alone (no Spark): plotly figures with plotly.js
embedded once in the page, so that the file opens offline and fetches nothing; plain HTML tables
for the status, alerts and decisions.

The page opens with "Needs attention", before any chart: many readers (a risk manager) read the
first screen only, so the open alerts, the slices below their baseline and the run's warnings
must all be there, even when the overall line and the model status look healthy.

Plotly rather than static images: people diagnose by hovering a window for its value, interval
and label count, zooming into a week and hiding versions from the legend; matplotlib's SVG would
need all of that drawn in. The cost is plotly.js, about 4.5 MB once per file.
"""

from __future__ import annotations

import html
import re
from datetime import timedelta

import numpy as np
import pandas as pd

from perfmon_spark.alerts.lifecycle import SERIES
from perfmon_spark.alerts.rules import MIN_SLICE_LABELS, RulePlan, evaluated, rule_plans
from perfmon_spark.errors import MissingDependencyError
from perfmon_spark.io.catalog import LABEL_DELAY_QUANTILES, LABEL_DELAY_SHARE_BEYOND, threshold_column
from perfmon_spark.metrics.histogram import labeled, merge, precision_recall, scale_of
from perfmon_spark.report.model import CURVE_WINDOWS, ReportData, main_window
from perfmon_spark.vocabulary import ALL_VERSIONS, OVERALL, AlertStatus, DriftClass, Level

try:
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs
except ImportError as e:  # the `report` extra: only the report needs it
    raise MissingDependencyError("plotly", "report", "perfmon report") from e

LEVEL_COLOURS = {Level.MINOR: "#e6b400", Level.SUSTAINED: "#f07f1a", Level.CRITICAL: "#d62728"}
PLOT_CONFIG = {"displaylogo": False, "responsive": True}
MAX_HEAT_SLICES = 20  # rows of the slice heat map: the worst in the latest window
MAX_WORST = 10  # rows of the worst-slices table
MAX_ATTENTION = 5  # rows of each "Needs attention" table: it must fit the first screen
DELAY_KEYS = (*LABEL_DELAY_QUANTILES, "max")  # the ``runs.label_delay`` keys in days, in the order shown

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px auto; max-width: 1200px;
       color: #1f2328; padding: 0 16px; }
h1 { font-size: 1.6em; margin-bottom: 0; } h2 { margin-top: 2em; border-bottom: 1px solid #d0d7de; padding-bottom: 4px; }
.meta { color: #57606a; margin-top: 4px; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.9em; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { padding: 1px 6px; border-radius: 4px; color: white; font-weight: 600; font-size: 0.85em; }
.HEALTHY { background: #2da44e; } .DEGRADED { background: #f07f1a; } .CRITICAL { background: #d62728; }
.INACTIVE { background: #8c959f; } .MINOR { background: #e6b400; } .SUSTAINED { background: #f07f1a; }
.RETRAIN { background: #d62728; } .NO_ACTION { background: #2da44e; } .COOLDOWN { background: #8c959f; }
.BETTER { background: #2da44e; } .NOT_WORSE { background: #57ab5a; } .WORSE { background: #d62728; }
.INCONCLUSIVE { background: #8c959f; }
.note { color: #57606a; font-size: 0.9em; }
"""


def slug(text: str) -> str:
    """An HTML id from a metric name (``recall[fraud]`` -> ``recall-fraud``)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _e(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d}"
    return html.escape(str(value))


def _table(header: list[str], rows: list[list], numeric: set[int] = frozenset()) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _badge(word) -> str:
    return f'<span class="badge {html.escape(str(word))}">{html.escape(str(word))}</span>' if word else "-"


def _lay_out(fig: go.Figure, title: str, left: int = 50, **layout) -> None:
    """The layout every chart shares (title at the left, white template, margins), and its own."""
    fig.update_layout(
        title={"text": title, "x": 0},
        template="plotly_white",
        margin={"l": left, "r": 20, "t": 50, "b": 40},
        **layout,
    )


def _figure_html(fig: go.Figure, div_id: str) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG)


# Versions in cool colours, so that none reads as an alert level's yellow, orange or red.
VERSION_PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#8c564b", "#7f7f7f", "#bcbd22", "#e377c2")


def _version_colours(data: ReportData) -> dict[str, str]:
    """One colour per model version, the same in every chart (all versions first)."""
    versions = set(data.series["model_version"]) if len(data.series) else set()
    ordered = sorted(versions, key=lambda v: (v != ALL_VERSIONS, v))
    return {v: VERSION_PALETTE[i % len(VERSION_PALETTE)] for i, v in enumerate(ordered)}


def _rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _label(version: str) -> str:
    return "all versions" if version == ALL_VERSIONS else version


def render(data: ReportData) -> str:
    """The whole page."""
    cfg = data.cfg
    sections = [
        f"<h1>perfmon report: {html.escape(cfg.name)}</h1>",
        header(data),
        attention_section(data),
        _status_section(data),
        versions_section(data),
        _alerts_section(data),
        "<h2>Metrics over time</h2>",
        f'<p class="note">Points: {html.escape(cfg.windows.granularity.text)} windows; lines: {html.escape(main_window(cfg))} '
        "windows with their confidence band; dotted: the rule's baseline; dashed: where each alert level begins; "
        "diamonds: windows of an alert episode, coloured by level; grey: windows not mature yet (labels still arriving).</p>",
        *(_figure_html(metric_figure(data, m), f"metric-{slug(m)}") for m in data.metrics),
        _coverage_section(data),
        _curves_section(data),
        _slices_section(data),
        _drift_section(data),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>perfmon: {html.escape(cfg.name)} as of {data.as_of:%Y-%m-%d}</title>"
        f"<style>{STYLE}</style><script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        + "\n".join(s for s in sections if s)
        + "</body></html>"
    )


def header(data: ReportData) -> str:
    """The line under the title. Its fields are joined, not each followed by a separator, so the
    one that may be missing (no chart yet) leaves no empty field behind."""
    run = data.last_run
    fields = [
        f"{data.cfg.problem_type} monitor",
        f"as of {data.as_of:%Y-%m-%d %H:%M} UTC (run {run['run_id']}, {run['mode']})",
        f"tables in {data.cfg.output.location.text}",
    ]
    if len(data.series):
        fields.append(f"charts from {data.series['window_end'].min():%Y-%m-%d}, at each window's end")
    return f'<p class="meta">{html.escape("; ".join(fields), quote=False)}</p>'


def attention_section(data: ReportData) -> str:
    """What must be on the first screen, before any chart: the run's warnings, the open alerts
    worst first, and the slices below their baseline, each table cut to ``MAX_ATTENTION`` rows
    with a count of the rest."""
    return "<h2>Needs attention</h2>" + _warnings_part(data) + _open_alerts_part(data) + _worst_slices_part(data)


def _warnings_part(data: ReportData) -> str:
    run = html.escape(data.last_run["run_id"])
    if data.warnings is None:
        return f'<p class="note">Run {run} recorded no warnings list (a run of perfmon-spark before warnings were recorded).</p>'
    if not data.warnings:
        return f"<p>Run {run}: no warnings.</p>"
    items = "".join(f"<li><b>{html.escape(code)}</b>: {html.escape(message)}</li>" for code, message in data.warnings)
    return f"<h3>Warnings of run {run} ({len(data.warnings)})</h3><ul>{items}</ul>"


def _more(n: int, what: str) -> str:
    return f'<p class="note">... and {n} more {what}.</p>' if n > 0 else ""


def _open_alerts_part(data: ReportData) -> str:
    open_ = _open_alerts(data)
    if open_ is None:
        return ""
    if open_.empty:
        return "<p>Open alerts: none.</p>"
    return (
        f"<h3>Open alerts ({len(open_)})</h3>"
        + _alerts_table(open_.head(MAX_ATTENTION))
        + _more(len(open_) - MAX_ATTENTION, "open alerts, listed under Open alerts below")
    )


def _worst_slices_part(data: ReportData) -> str:
    """The first rule's slices past its lowest threshold (``slices_below_baseline``)."""
    if not data.cfg.alerts or data.histories.empty:
        return ""
    rule = data.cfg.alerts[0]
    if rule.slices == "overall":
        return f"<p>Slices: rule {html.escape(rule.name)} watches the overall slice only.</p>"
    plan = rule_plans(data.cfg)[rule.name]
    worst = slices_below_baseline(data.histories, plan)
    what = f"{rule.metric} ({data.heat_window})"
    if worst.empty:
        return f"<p>Slices: none past the {html.escape(_lowest(plan))} threshold of {html.escape(what)}.</p>"
    rows = [
        [
            _badge(r["level"]),
            _e(_label(r["model_version"])),
            _e(f"{r['slice_key']}={r['slice_value']}"),
            _e(pd.Timestamp(r["window_end"])),
            f"{_e(r['value'])} [{_e(r['ci_lower'])}, {_e(r['ci_upper'])}]",
            _e(r["baseline"]),
            _e(r["change"]),
            _e(int(r["n_labeled"])),
            _e("; ".join(_marks(r)) or "-"),
        ]
        for r in worst.head(MAX_ATTENTION).to_dict("records")
    ]
    header = ["level", "version", "slice", "window end", "value [CI]", "baseline", "change", "n_labeled", "note"]
    return (
        f"<h3>Slices below their baseline: {html.escape(what)} ({len(worst)})</h3>"
        "<p class='note'>Each slice in its latest mature window (else its latest one, marked); level: the "
        "highest threshold the value is past (an alert also needs the drop to hold and be real).</p>"
        + _table(header, rows, numeric={5, 6, 7})
        + _more(len(worst) - MAX_ATTENTION, "slices past a threshold")
    )


def _lowest(plan: RulePlan) -> Level:
    return min((Level(lv.level) for lv in plan.rule.levels), key=lambda level: level.rank)


def _marks(row: dict) -> list[str]:
    """What makes a listed slice less than an alert: a MINOR-level movement (logged, not alerted)
    or a window whose labels are still arriving."""
    marks = ["minor"] if row["level"] == Level.MINOR else []
    if not row["is_mature"]:
        marks.append("not yet mature")
    return marks


def slices_below_baseline(histories: pd.DataFrame, plan: RulePlan) -> pd.DataFrame:
    """The slices of ``plan``'s rule whose value is past the rule's lowest threshold, worst first.

    Each (version, slice) is judged on the rule's latest mature window, where its labels are
    final; one that is fine there (or too thin) but past a threshold in a newer, immature window
    comes after those, with ``is_mature`` false, so a drop shows before its labels are in without
    being mistaken for a final one. A window counts only where the rule would evaluate it,
    maturity aside (``rules.evaluated``: value, baseline, labels, class counts, interval), so a
    slice of a few labels does not crowd out real drops. A series with no row in the latest
    mature window (a retired version) is not listed.

    Args:
        histories: ``rule_histories`` rows (any rules and slices; the overall slice is left out).
        plan: the rule whose metric, window, thresholds and gates decide.

    Returns:
        The listed rows of ``histories`` with ``level`` (the highest level whose threshold the
        point value is past) and ``change`` (value minus the baseline, or minus an absolute
        rule's first limit): mature first, then the largest drop first.
    """
    levels = sorted(plan.rule.levels, key=lambda lv: Level(lv.level).rank)
    h = histories[(histories["rule"] == plan.rule.name) & (histories["slice_key"] != OVERALL)]
    h = h[evaluated(h.assign(is_mature=True), plan)]
    h = h.assign(is_mature=h["is_mature"].fillna(False).astype(bool))
    series = [c for c in SERIES if c != "rule"]
    mature = h[h["is_mature"] & (h["window_end"] == h.loc[h["is_mature"], "window_end"].max())]
    newer = h[~h["is_mature"]].sort_values("window_end").groupby(series).tail(1)
    h = pd.concat([mature, newer])

    def level(r) -> str | None:
        past = [lv.level for lv in levels if plan.worse(r.value, plan.threshold(r.baseline, lv))]
        return past[-1] if past else None

    reference = h["baseline"] if plan.rule.absolute is None else levels[0].limit
    h = h.assign(level=[level(r) for r in h.itertuples()], change=h["value"] - reference)
    h = h[h["level"].notna()].drop_duplicates(series)  # a mature listing wins over a newer one
    worst_first = plan.larger_is_better  # the most negative change first, or the most positive
    return h.sort_values(["is_mature", "change", *series], ascending=[False, worst_first, *[True] * len(series)])


def _status_section(data: ReportData) -> str:
    if data.status.empty:
        return "<h2>Model status</h2><p class='note'>No alert rules or retrain triggers configured.</p>"
    decisions = {d["model_version"]: d for d in data.decisions.to_dict("records")} if len(data.decisions) else {}
    rows = []
    for r in data.status.sort_values("model_version").to_dict("records"):
        d = decisions.get(r["model_version"], {})
        reasons = d.get("reasons") or []
        rows.append(
            [
                _e(r["model_version"]),
                _badge(r["status"]),
                _e(r["action"]),
                _e(r["rollback_target"]),
                _e(pd.Timestamp(r["last_prediction_date"]) if r["last_prediction_date"] else None),
                _badge(d.get("decision")),
                "<br>".join(html.escape(x) for x in reasons) or "-",
            ]
        )
    header = ["version", "status", "action", "roll back to", "last prediction", "retrain decision", "reasons"]
    return "<h2>Model status and retrain decisions</h2>" + _table(header, rows)


def versions_section(data: ReportData) -> str:
    """Each challenger against the champion in the latest window of each length: the difference
    on the champion's mix with its interval, the overall (unadjusted) difference beside it, the
    labels behind each side and the verdict; nothing without ``versions``."""
    if data.comparisons.empty:
        return ""
    rows = [
        [
            _e(r["challenger"]),
            _e(r["champion"]),
            _e(r["metric"]),
            _e(r["window"]),
            _e(pd.Timestamp(r["window_start"], unit="s")),
            f"{_e(r['difference'])} [{_e(r['ci_lower'])}, {_e(r['ci_upper'])}]",
            _e(r["unadjusted_difference"]),
            f"{r['n_labeled_challenger']} / {r['n_labeled_champion']}",
            _badge(r["verdict"]),
        ]
        for r in data.comparisons.to_dict("records")
    ]
    header = ["challenger", "champion", "metric", "window", "from", "difference [CI]", "overall", "labels", "verdict"]
    column = data.cfg.stratum_column
    mix = (
        f"each value of {html.escape(column)} weighted by the champion's share of predictions (so a different mix of "
        "traffic does not decide it)"
        if column
        else "on the overall slice (no segment column to standardise on)"
    )
    return (
        f"<h2>Versions compared</h2><p class='note'>Challenger minus champion in the latest window, {mix}; overall: "
        f"each version on its own traffic. Margin {data.cfg.versions.margin:g}: worse by less is NOT_WORSE.</p>"
        + _table(header, rows, {5, 6, 7})
    )


def _open_alerts(data: ReportData) -> pd.DataFrame | None:
    """The open alerts, worst level first (``Level.rank``); None without a perf_alerts table."""
    alerts = data.alerts
    if alerts.empty:
        return None
    open_ = alerts[alerts["status"] == AlertStatus.OPEN]
    rank = open_["level"].map(lambda v: -Level(v).rank)
    return open_.assign(rank=rank).sort_values(["rank", "model_version", "slice_key", "slice_value"])


def _alerts_section(data: ReportData) -> str:
    open_ = _open_alerts(data)
    if open_ is None:
        return ""
    if open_.empty:
        return "<h2>Open alerts</h2><p>None.</p>"
    return f"<h2>Open alerts ({len(open_)})</h2>" + _alerts_table(open_)


def _alerts_table(open_: pd.DataFrame) -> str:
    rows = [
        [
            _badge(r["level"]),
            _e(r["rule"]),
            _e(_label(r["model_version"])),
            _e("overall" if r["slice_key"] == OVERALL else f"{r['slice_key']}={r['slice_value']}"),
            _e(r["window"]),
            _e(r["metric"]),
            f"{_e(r['value'])} [{_e(r['ci_lower'])}, {_e(r['ci_upper'])}]",
            _e(r["baseline"]),
            _e(r["threshold"]),
            _e(pd.Timestamp(r["opened_window_start"])),
        ]
        for r in open_.to_dict("records")
    ]
    header = ["level", "rule", "version", "slice", "window", "metric", "value [CI]", "baseline", "threshold", "since"]
    return _table(header, rows, numeric={7, 8})


def _thresholds(data: ReportData, metric: str) -> pd.DataFrame:
    """The rules on ``metric`` (overall slice): per version and window, the baseline and where
    each level began, as the alerting stage stored them in ``rule_windows``."""
    w = data.rule_windows
    return w[w["metric"] == metric] if len(w) else w


def metric_figure(data: ReportData, metric: str) -> go.Figure:
    """One metric over time per version: granularity points, the main rolling line with its
    interval band, baseline and level thresholds, alert episodes, and the immature span."""
    cfg = data.cfg
    rows = data.series[data.series["metric"] == metric]
    colours = {v: c for v, c in _version_colours(data).items() if v in set(rows["model_version"])}
    thresholds = _thresholds(data, metric)
    main = main_window(cfg)
    fig = go.Figure()
    legend_levels: set[Level] = set()  # one legend entry per level's threshold lines
    for version, colour in colours.items():
        mine = rows[rows["model_version"] == version]
        group = {"legendgroup": version}
        points = mine[mine["window"] == cfg.windows.granularity.text].sort_values("window_end")
        line = mine[mine["window"] == main].sort_values("window_end")
        band = {"fill": "tonexty", "fillcolor": _rgba(colour, 0.15)}  # the lower bound fills up to the upper
        for bound, fill in (("ci_upper", {}), ("ci_lower", band)):
            fig.add_trace(
                go.Scatter(
                    x=line["window_end"],
                    y=line[bound],
                    mode="lines",
                    line={"width": 0},
                    showlegend=False,
                    hoverinfo="skip",
                    **fill,
                    **group,
                )
            )
        fig.add_trace(
            go.Scatter(
                x=line["window_end"],
                y=line["value"],
                mode="lines",
                name=f"{_label(version)} ({main})",
                line={"color": colour, "width": 2},
                customdata=np.stack([line["n_labeled"], line["ci_lower"], line["ci_upper"]], axis=-1)
                if len(line)
                else None,
                hovertemplate="%{y:.3f} [%{customdata[1]:.3f}, %{customdata[2]:.3f}]<br>n_labeled %{customdata[0]}<br>window ending %{x|%Y-%m-%d}",
                **group,
            )
        )
        if main != cfg.windows.granularity.text:
            fig.add_trace(
                go.Scatter(
                    x=points["window_end"],
                    y=points["value"],
                    mode="markers",
                    name=f"{_label(version)} ({cfg.windows.granularity.text})",
                    marker={"color": colour, "size": 5, "opacity": 0.45},
                    showlegend=False,
                    **group,
                )
            )
        mine_t = (
            thresholds[thresholds["model_version"] == version].sort_values("window_end")
            if len(thresholds)
            else thresholds
        )
        if len(mine_t):
            fig.add_trace(
                go.Scatter(
                    x=mine_t["window_end"],
                    y=mine_t["baseline"],
                    mode="lines",
                    name=f"{_label(version)} baseline",
                    line={"color": colour, "width": 1, "dash": "dot"},
                    showlegend=False,
                    **group,
                )
            )
            for level in Level:
                column = threshold_column(level)
                if column in mine_t and mine_t[column].notna().any():
                    fig.add_trace(
                        go.Scatter(
                            x=mine_t["window_end"],
                            y=mine_t[column],
                            mode="lines",
                            name=f"{level} threshold",
                            line={"color": LEVEL_COLOURS[level], "width": 1, "dash": "dash"},
                            legendgroup=f"threshold-{level}",
                            showlegend=level not in legend_levels,
                            hovertemplate=f"{_label(version)} {level} threshold %{{y:.3f}}<extra></extra>",
                        )
                    )
                    legend_levels.add(level)
    _alert_markers(fig, data, metric)
    if cfg.needs_labels(metric):
        fig.add_vrect(
            x0=data.as_of - timedelta(seconds=cfg.labels.max_delay.seconds),
            x1=data.as_of,
            fillcolor="#8c959f",
            opacity=0.12,
            line_width=0,
            annotation_text="not mature",
            annotation_position="top left",
        )
    _lay_out(fig, metric, height=420, legend={"orientation": "h", "y": -0.12}, yaxis_title=metric)
    return fig


def _alert_markers(fig: go.Figure, data: ReportData, metric: str) -> None:
    """Every window of every overall alert episode on ``metric``, as a marker of its level."""
    alerts, h = data.alerts, data.rule_windows
    if alerts.empty or h.empty:
        return
    episodes = alerts[(alerts["metric"] == metric) & (alerts["slice_key"] == OVERALL)]
    for level in Level:
        xs, ys, texts = [], [], []
        for e in episodes[episodes["level"] == level].to_dict("records"):
            last = (
                e["resolved_window_start"]
                if e["resolved_window_start"] is not None and not pd.isna(e["resolved_window_start"])
                else e["last_window_start"]
            )
            windows = h[
                (h["rule"] == e["rule"])
                & (h["model_version"] == e["model_version"])
                & (h["slice_key"] == OVERALL)
                & (h["window"] == e["window"])
                & (h["window_start"] >= e["opened_window_start"])
                & (h["window_start"] <= last)
            ]
            xs += list(windows["window_end"])
            ys += list(windows["value"])
            texts += [f"{level} {e['rule']} ({_label(e['model_version'])}, {e['status']})"] * len(windows)
        if xs:
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="markers",
                    name=f"{level} alert",
                    text=texts,
                    hoverinfo="text+y",
                    marker={
                        "symbol": "diamond",
                        "size": 9,
                        "color": LEVEL_COLOURS[level],
                        "line": {"width": 1, "color": "white"},
                    },
                )
            )


def _coverage_section(data: ReportData) -> str:
    cfg = data.cfg
    labelled = [m for m in data.metrics if cfg.needs_labels(m)]
    if not labelled:
        return ""
    rows = data.series[(data.series["metric"] == labelled[0]) & (data.series["window"] == cfg.windows.granularity.text)]
    fig = go.Figure()
    for version, colour in _version_colours(data).items():
        mine = rows[rows["model_version"] == version].sort_values("window_end")
        fig.add_trace(
            go.Scatter(
                x=mine["window_end"],
                y=mine["label_coverage"],
                name=f"{_label(version)} coverage",
                line={"color": colour},
                legendgroup=version,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=mine["window_end"],
                y=mine["expected_coverage"],
                name=f"{_label(version)} expected",
                showlegend=False,
                line={"color": colour, "dash": "dot"},
                legendgroup=version,
            )
        )
    _lay_out(
        fig,
        f"label coverage per {cfg.windows.granularity.text} window (dotted: expected final coverage)",
        height=360,
        yaxis={"range": [0, 1.05], "tickformat": ".0%"},
    )
    return "<h2>Label coverage</h2>" + label_delay_part(data) + _figure_html(fig, "label-coverage")


def label_delay_part(data: ReportData) -> str:
    """How late the labels the last run read arrived, beside the coverage they give: a share
    beyond ``max_delay`` is labels ignored, and p99 says what ``max_delay`` would keep them."""
    delay, max_delay = data.label_delay, data.cfg.labels.max_delay.text
    run = html.escape(data.last_run["run_id"])
    if not delay:
        return (
            f'<p class="note">Label delays: none recorded by run {run} (no label event matched to a '
            "prediction, an entity join, or a run by an older perfmon-spark).</p>"
        )
    share = delay.get(LABEL_DELAY_SHARE_BEYOND)
    row = [*(_e(delay.get(k)) for k in DELAY_KEYS), "-" if share is None else f"{share:.1%}", html.escape(max_delay)]
    header = [*(f"{k} (days)" for k in DELAY_KEYS), "beyond max_delay", "max_delay"]
    title = f"<h3>Label delay (label time minus prediction time) of the label events run {run} read</h3>"
    return title + _table(header, [row], numeric=set(range(len(row))))


def _curves_section(data: ReportData) -> str:
    curves = data.curves
    if curves.empty:
        return ""
    scale = scale_of(data.cfg.predictions.score_type)
    fig = go.Figure()
    ends = sorted(curves["window_end"].unique(), reverse=True)
    dashes = ("solid", "dash", "dot")
    for version, colour in _version_colours(data).items():
        for age, end in enumerate(ends[:CURVE_WINDOWS]):
            parts = curves[(curves["model_version"] == version) & (curves["window_end"] == end)]
            summary = merge(
                [(np.asarray(r.hist_keys), np.asarray(r.hist_pos), np.asarray(r.hist_neg)) for r in parts.itertuples()],
                scale,
            )
            _keys, pos, neg = labeled(*summary)
            if pos.sum() <= 0:
                continue
            precision, recall = precision_recall(pos, neg)
            fig.add_trace(
                go.Scatter(
                    x=recall,
                    y=precision,
                    mode="lines",
                    name=f"{_label(version)}, ending {pd.Timestamp(end):%m-%d}",
                    line={"color": colour, "dash": dashes[age % len(dashes)]},
                    legendgroup=version,
                )
            )
    _lay_out(
        fig,
        f"precision / recall curves of the latest {main_window(data.cfg)} windows (solid: latest)",
        height=420,
        xaxis={"title": "recall", "range": [0, 1]},
        yaxis={"title": "precision", "range": [0, 1.02]},
    )
    return "<h2>Precision and recall</h2>" + _figure_html(fig, "pr-curves")


def _slice_changes(data: ReportData) -> pd.DataFrame:
    """The heat-map metric per slice and window with its change against the rule's baseline
    (else against the slice's first window shown), for all versions (or the one selected)."""
    s = data.slices
    if s.empty:
        return s
    version = ALL_VERSIONS if (s["model_version"] == ALL_VERSIONS).any() else sorted(s["model_version"].unique())[0]
    s = s[(s["model_version"] == version) & (s["slice_key"] != OVERALL) & s["value"].notna()].copy()
    s["slice"] = s["slice_key"] + "=" + s["slice_value"]
    h = data.histories
    key = ["model_version", "slice_key", "slice_value", "window", "window_start"]
    if not h.empty and data.cfg.alerts:
        base = h[(h["rule"] == data.cfg.alerts[0].name)][[*key, "baseline"]]
        s = s.merge(base, on=key, how="left")
    else:
        s["baseline"] = np.nan
    first = s.sort_values("window_start").groupby("slice")["value"].transform("first")
    s["baseline"] = s["baseline"].fillna(first)
    s["change"] = s["value"] - s["baseline"]
    return s


def _slices_section(data: ReportData) -> str:
    s = _slice_changes(data)
    if s.empty:
        return ""
    worse_sign = -1.0 if data.cfg.larger_is_better(data.heat_metric) is not False else 1.0
    min_labeled = data.cfg.alerts[0].min_labeled if data.cfg.alerts else MIN_SLICE_LABELS
    latest = s[s["window_start"] == s.groupby("slice")["window_start"].transform("max")].copy()
    latest["badness"] = worse_sign * latest["change"]
    latest = latest.sort_values("badness", ascending=False)
    shown = list(latest["slice"][:MAX_HEAT_SLICES])
    grid = s[s["slice"].isin(shown)].pivot_table(index="slice", columns="window_end", values="change").reindex(shown)
    limit = float(np.nanmax(np.abs(grid.to_numpy()))) if grid.size else 1.0
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(),
            x=list(grid.columns),
            y=list(grid.index),
            zmid=0,
            zmin=-limit,
            zmax=limit,
            colorscale="RdBu" if worse_sign < 0 else "RdBu_r",
            colorbar={"title": "change"},
            hovertemplate="%{y}<br>window ending %{x|%Y-%m-%d}<br>change %{z:.3f}<extra></extra>",
        )
    )
    _lay_out(
        fig,
        f"{data.heat_metric} ({data.heat_window}) per slice: change against the baseline (red: worse)",
        height=max(300, 60 + 22 * len(shown)),
        yaxis={"autorange": "reversed"},
        left=160,
    )
    rows = [
        [
            _e(r["slice"]),
            _e(pd.Timestamp(r["window_end"])),
            f"{_e(r['value'])} [{_e(r['ci_lower'])}, {_e(r['ci_upper'])}]",
            _e(r["baseline"]),
            _e(r["change"]),
            _e(int(r["n_labeled"])),
        ]
        for r in latest[latest["n_labeled"] >= min_labeled].head(MAX_WORST).to_dict("records")
    ]
    table = _table(["slice", "window end", "value [CI]", "baseline", "change", "n_labeled"], rows, numeric={3, 4, 5})
    title = f"Worst slices in their latest {data.heat_window} window, with at least {min_labeled} labels"
    return "<h2>Slices</h2>" + _figure_html(fig, "slice-heatmap") + f"<h3>{html.escape(title)}</h3>" + table


def _drift_section(data: ReportData) -> str:
    d = data.drift
    if d.empty:
        return ""
    version = ALL_VERSIONS if (d["model_version"] == ALL_VERSIONS).any() else sorted(d["model_version"].unique())[0]
    d = d[d["model_version"] == version]
    fig = go.Figure()
    for (feature, rows), colour in zip(d.groupby("feature"), VERSION_PALETTE * 10):
        rows = rows.sort_values("window_end")
        fig.add_trace(go.Scatter(x=rows["window_end"], y=rows["value"], name=feature, line={"color": colour}))
    fig.add_hline(
        y=data.cfg.drift.psi_threshold,
        line={"color": LEVEL_COLOURS[Level.SUSTAINED], "dash": "dash"},
        annotation_text="psi_threshold",
    )
    _lay_out(
        fig,
        f"feature drift: PSI per {main_window(data.cfg)} window against the reference ({_label(version)})",
        height=380,
    )
    parts = ["<h2>Drift</h2>", _figure_html(fig, "drift-psi")]
    p = data.drift_performance
    if not p.empty:
        p = p[p["class"] != DriftClass.UNKNOWN]
        latest = p[
            p["window_start"] == p.groupby(["model_version", "metric", "window"])["window_start"].transform("max")
        ]
        rows = [
            [
                _e(_label(r["model_version"])),
                _e(r["metric"]),
                _e(r["window"]),
                _e(pd.Timestamp(r["window_start"])),
                _e(r["value"]),
                _e(r["baseline"]),
                _e(r["class"]),
                _e(r["top_feature"]),
                _e(r["top_feature_psi"]),
            ]
            for r in latest.sort_values(["model_version", "metric"]).to_dict("records")
        ]
        parts += [
            "<h3>Drift and performance: the latest classified window</h3>",
            _table(
                ["version", "metric", "window", "window start", "value", "baseline", "class", "top drift", "its PSI"],
                rows,
                numeric={4, 5, 8},
            ),
        ]
    c = data.drift_correlation
    if not c.empty:
        c = c[c["spearman_rho"].notna()].sort_values(
            ["model_version", "metric", "spearman_rho"], ascending=[True, True, False]
        )
        rows = [
            [
                _e(_label(r["model_version"])),
                _e(r["metric"]),
                _e(r["feature"]),
                _e(r["spearman_rho"]),
                _e(r["p_value"]),
                _e(int(r["windows_used"])),
            ]
            for r in c.to_dict("records")
        ]
        parts += [
            "<h3>Which drift goes with the drop (Spearman rank correlation over recent windows)</h3>",
            "<p>Descriptive: the p-value takes the windows as independent, which trending series are not. "
            "A retrain's evidence lists a feature as correlated only where a test that allows for trends "
            "(on the window-to-window changes, with the windows' autocorrelation counted) passes.</p>",
            _table(["version", "metric", "feature", "rho", "naive p", "windows"], rows, numeric={3, 4, 5}),
        ]
    return "".join(parts)
