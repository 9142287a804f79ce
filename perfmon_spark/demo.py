"""``perfmon demo``: a sample lakehouse with the usual troubles of production, and a run on it.

``generate_lakehouse`` is a library function (the tests and the benchmarks use it too). All
randomness comes from hashes of the row number, so the same arguments give the same tables on any
cluster layout. The sample has 3 model versions, 2 segment columns, two drift features
(``amount``, ``device_risk``), skewed fraud-like scores, delayed and corrected labels, labels that
never arrive, a few bad rows of each kind, and three injected changes:

- decay without drift: v2 loses its separation in country BR from 75% of the period on;
- versions: v1 serves the first half, then v3 (the champion, 60% of traffic) beside v2 (40%): v3's
  decay makes it CRITICAL, and the demo shows what ``perfmon rollback`` would do (a dry run);
- drift and decay: v3's devices get riskier (``device_risk`` shifts) from two thirds of the
  period on, and v3, which never saw such devices, loses most of its separation there;
- drift without decay: v1's amounts grow 2.5 times from a third of the period to its end (half
  way), and v1 scores as well as before.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

DEMO_START = datetime(2026, 1, 1)


@dataclass(frozen=True)
class Lakehouse:
    """Where a generated sample lives and the as_of that suits it."""

    root: Path
    predictions: str
    labels: str
    monitoring: str
    as_of: datetime


def uniform(i: Column, salt: int) -> Column:
    """A deterministic uniform in [0, 1) from the row number and a salt."""
    return F.pmod(F.xxhash64(i, F.lit(salt)), F.lit(1_000_000_007)).cast("double") / 1_000_000_007.0


def normal(i: Column, salt: int) -> Column:
    """Box-Muller over two hashed uniforms."""
    u1 = F.greatest(uniform(i, salt), F.lit(1e-12))
    return F.sqrt(-2 * F.log(u1)) * F.cos(2 * 3.141592653589793 * uniform(i, salt + 1))


def _pick(u: Column, choices: list[tuple[str, float]]) -> Column:
    expr, edge = None, 0.0
    for value, share in choices[:-1]:
        edge += share
        expr = F.when(u < edge, F.lit(value)) if expr is None else expr.when(u < edge, F.lit(value))
    return expr.otherwise(F.lit(choices[-1][0]))


def generate_lakehouse(
    spark: SparkSession, root: str | Path, rows: int = 60_000, days: int = 60, start: datetime = DEMO_START
) -> Lakehouse:
    """Write ``predictions`` and ``labels`` Delta tables under ``root`` (replacing them)."""
    root = Path(root).resolve()
    i = F.col("id")
    day = F.floor(i * F.lit(days) / F.lit(rows))
    seconds = (i * F.lit(days * 86400.0) / F.lit(rows)).cast("long")
    ts = F.lit(start).cast("timestamp") + F.make_dt_interval(
        F.lit(0), F.lit(0), F.lit(0), seconds.cast("decimal(18,6)")
    )
    version = F.when(day < days // 2, F.lit("v1")).when(uniform(i, 1) < 0.4, F.lit("v2")).otherwise(F.lit("v3"))
    country = _pick(uniform(i, 2), [("US", 0.45), ("GB", 0.2), ("DE", 0.15), ("FR", 0.12), ("BR", 0.08)])
    channel = _pick(uniform(i, 3), [("web", 0.5), ("app", 0.35), ("pos", 0.15)])
    y = (uniform(i, 4) < 0.04).cast("int")
    degraded = (version == "v2") & (country == "BR") & (day >= int(days * 0.75))
    new_devices = (version == "v3") & (day >= days * 2 // 3)
    separation = F.when(degraded, F.lit(0.4)).when(new_devices, F.lit(0.6))
    separation = separation.otherwise(F.when(version == "v3", F.lit(3.3)).otherwise(F.lit(3.0)))
    device_risk = normal(i, 14) + F.when(new_devices, F.lit(1.5)).otherwise(F.lit(0.0))
    bigger = (version == "v1") & (day >= days // 3)
    score = 1 / (1 + F.exp(-(F.lit(-4.6) + separation * y + F.lit(0.9) * normal(i, 5))))
    bad = uniform(i, 6)
    score = F.when(bad < 0.0004, F.lit(None)).when(bad < 0.0008, F.lit(float("nan"))).otherwise(score)
    version = F.when((bad >= 0.0008) & (bad < 0.0011), F.lit(None)).otherwise(version)
    pid = F.concat(F.lit("p"), F.when(i % 5000 == 17, i - 1).otherwise(i).cast("string"))
    base = spark.range(rows).select(
        i,
        pid.alias("prediction_id"),
        ts.alias("prediction_ts"),
        version.alias("model_version"),
        score.alias("score"),
        country.alias("country"),
        channel.alias("channel"),
        F.round((F.lit(20.0) + F.lit(400.0) * uniform(i, 7)) * F.when(bigger, 2.5).otherwise(1.0), 2).alias("amount"),
        F.round(device_risk, 3).alias("device_risk"),
        y.alias("_truth"),
    )
    predictions = base.drop("id", "_truth").withColumn("prediction_date", F.to_date("prediction_ts"))

    delay_days = -F.log(F.greatest(uniform(i, 8), F.lit(1e-12))) * F.lit(4.0)
    arrival = F.col("prediction_ts") + F.make_dt_interval(
        F.lit(0), F.lit(0), F.lit(0), (delay_days * 86400).cast("decimal(18,6)")
    )
    labeled = base.filter(uniform(i, 9) < 0.92)
    corrected = uniform(i, 10) < 0.03
    first = labeled.select(
        "prediction_id",
        F.when(corrected, 1 - F.col("_truth")).otherwise(F.col("_truth")).alias("is_fraud"),
        F.when(uniform(i, 11) < 0.0005, F.col("prediction_ts") - F.expr("INTERVAL 1 HOUR"))
        .otherwise(arrival)
        .alias("label_ts"),
    )
    fixes = labeled.filter(corrected).select(
        "prediction_id", F.col("_truth").alias("is_fraud"), (arrival + F.expr("INTERVAL 2 DAYS")).alias("label_ts")
    )
    odd = labeled.filter(uniform(i, 12) < 0.0005).select(
        "prediction_id",
        F.when(uniform(i, 13) < 0.5, F.lit(None)).otherwise(F.lit(7)).cast("int").alias("is_fraud"),
        arrival.alias("label_ts"),
    )
    orphans = spark.range(25).select(
        F.concat(F.lit("x"), F.col("id").cast("string")).alias("prediction_id"),
        F.lit(0).alias("is_fraud"),
        (F.lit(start).cast("timestamp") + F.expr("INTERVAL 3 DAYS")).alias("label_ts"),
    )
    labels = (
        first.unionByName(fixes).unionByName(odd).unionByName(orphans).withColumn("label_date", F.to_date("label_ts"))
    )

    lake = Lakehouse(
        root=root,
        predictions=str(root / "predictions"),
        labels=str(root / "labels"),
        monitoring=str(root / "monitoring"),
        as_of=start + timedelta(days=days),
    )
    for df, path, part in ((predictions, lake.predictions, "prediction_date"), (labels, lake.labels, "label_date")):
        (
            df.write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .option("delta.enableChangeDataFeed", "true")
            .partitionBy(part)
            .save(path)
        )
    return lake


def demo_config(lake: Lakehouse, alerting: bool = True) -> str:
    """The YAML config of a generated lakehouse, to be saved in its root folder (its table paths are
    relative to it, as users write them); ``alerting=False`` leaves out the KPI, baseline, alert
    and retrain sections (the benchmarks measure the metric engine alone)."""
    text = f"""\
version: 1
name: fraud_scoring
problem_type: binary
predictions:
  table: ./{Path(lake.predictions).relative_to(lake.root)}
  id: prediction_id
  timestamp: prediction_ts
  model_version: model_version
  score: score
  threshold: 0.15
labels:
  table: ./{Path(lake.labels).relative_to(lake.root)}
  id: prediction_id
  label: is_fraud
  timestamp: label_ts
  max_delay: 14 days
  positive: 1
segments:
  columns: [country, channel]
metrics: [accuracy, precision, recall, f1, score_psi, estimated_precision, estimated_roc_auc, roc_auc]
windows:
  granularity: 1 day
  rolling: [7 days, 28 days]
output:
  location: ./{Path(lake.monitoring).relative_to(lake.root)}
kpis:
  - name: fraud_loss_rate
    numerator: "CASE WHEN label = 1 AND prediction = 0 THEN amount ELSE 0 END"
    denominator: amount
    larger_is_better: false
    max: 0.02
baseline:
  source: window
  window: 7 days
alerts:
  - name: auc_drop
    metric: roc_auc
    window: 7 days
    slices: all
    minor: {{ratio: 0.97}}
    sustained: {{ratio: 0.93, consecutive: 2}}
    critical: {{ratio: 0.80}}
    min_labeled: 200
    confidence: 0.95
    maturity: {{min_coverage: 0.8}}
    resolve_after: 3
  - name: score_shift
    metric: score_psi
    window: 7 days
    slices: overall
    minor: {{max: 0.1}}
    confidence: null
retrain:
  triggers: [sustained, critical, kpi, drift_and_decay]
  cooldown: 14 days
  min_new_labels: 500
drift:
  features: [amount, device_risk]
  categorical: [channel]
  bins: 10
  correlation_windows: 20
versions:
  champion: v3
  challengers: [v2]
"""
    return text if alerting else text[: text.index("kpis:")]


RECOMMENDER_ITEMS = 10  # items shown per request
CATALOGUE = 400  # distinct items


def generate_recommender(
    spark: SparkSession, root: Path, requests: int, days: int, start: datetime = DEMO_START
) -> None:
    """Write ``impressions`` (one row per item shown: request, item, position score) and ``clicks``
    (late implicit feedback: 1 for a click, 3 for a purchase) under ``root``. Most requests are
    never clicked; clicks arrive minutes to days later; v2 replaces v1 half-way, and from 75% of
    the period its ranking in GB is shuffled (relevant items no longer on top)."""
    r = F.col("id")
    seconds = (r * F.lit(days * 86400.0) / F.lit(requests)).cast("long")
    ts = F.lit(start).cast("timestamp") + F.make_dt_interval(
        F.lit(0), F.lit(0), F.lit(0), seconds.cast("decimal(18,6)")
    )
    day = F.floor(r * F.lit(days) / F.lit(requests))
    version = F.when(day < days // 2, F.lit("v1")).otherwise(F.lit("v2"))
    country = _pick(uniform(r, 21), [("US", 0.5), ("GB", 0.3), ("DE", 0.2)])
    shown = spark.range(requests).select(
        r,
        ts.alias("served_ts"),
        version.alias("model_version"),
        country.alias("country"),
        F.explode(F.sequence(F.lit(1), F.lit(RECOMMENDER_ITEMS))).alias("slot"),
    )
    key = r * RECOMMENDER_ITEMS + F.col("slot")
    shuffled = (F.col("model_version") == "v2") & (F.col("country") == "GB") & (day >= int(days * 0.75))
    # the model's score orders the slots; where shuffled, interest no longer follows it
    interest = F.when(shuffled, F.lit(1.0) / (1 + uniform(key, 22) * RECOMMENDER_ITEMS)).otherwise(
        F.lit(1.0) / F.col("slot")
    )
    impressions = shown.select(
        F.concat(F.lit("r"), r.cast("string")).alias("request_id"),
        F.concat(
            F.lit("item"),
            F.pmod(F.xxhash64(key, F.lit(23)), F.lit(CATALOGUE)).cast("string"),
            F.lit("_"),
            F.col("slot").cast("string"),
        ).alias("item_id"),
        "served_ts",
        "model_version",
        F.round(F.lit(1.0) - F.col("slot") * 0.08 + F.lit(0.03) * uniform(key, 24), 4).alias("score"),
        "country",
        interest.alias("_interest"),
        key.alias("_key"),
    )
    clicked = impressions.filter(uniform(F.col("_key"), 25) < F.lit(0.35) * F.col("_interest"))
    delay = -F.log(F.greatest(uniform(F.col("_key"), 26), F.lit(1e-12))) * F.lit(6 * 3600.0)
    clicks = clicked.select(
        "request_id",
        "item_id",
        F.when(uniform(F.col("_key"), 27) < 0.1, F.lit(3.0)).otherwise(F.lit(1.0)).alias("relevance"),
        (F.col("served_ts") + F.make_dt_interval(F.lit(0), F.lit(0), F.lit(0), delay.cast("decimal(18,6)"))).alias(
            "event_ts"
        ),
    )
    for df, name, ts_column in (
        (impressions.drop("_interest", "_key"), "impressions", "served_ts"),
        (clicks, "clicks", "event_ts"),
    ):
        (
            df.withColumn("date", F.to_date(ts_column))
            .write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .option("delta.enableChangeDataFeed", "true")
            .partitionBy("date")
            .save(str(root / name))
        )


def recommender_config(lake: Lakehouse) -> str:
    """The YAML config of the demo's recommender, saved beside the fraud monitor's."""
    return f"""\
# yaml-language-server: $schema=perfmon.schema.json
version: 1
name: recommendations
problem_type: ranking
predictions:
  table: ./impressions
  request: request_id
  item: item_id
  timestamp: served_ts
  model_version: model_version
  score: score
labels:
  table: ./clicks
  request: request_id
  item: item_id
  label: relevance
  timestamp: event_ts
  max_delay: 3 days
ranking:
  k: [5, 10]
  no_relevant: skip
segments:
  columns: [country]
metrics: [recall@5, hit_rate@5, mrr, catalog_coverage@5, list_length_mean, ndcg@10]
windows:
  granularity: 1 day
  rolling: [7 days, 2000 labels]
output:
  location: ./{Path(lake.monitoring).relative_to(lake.root)}
"""


# The demo's two monitors, in the order it runs them: config file, and what the monitor shows.
DEMO_MONITORS = (
    (
        "perfmon.yml",
        "a binary fraud model, 3 versions, with late and corrected labels, bad rows, alerts, "
        "retrain decisions and drift",
    ),
    (
        "recommender.yml",
        "a recommender's ranked lists with click feedback, to show problem_type: ranking "
        "(ndcg@10, recall@5, mrr) in the same output tables",
    ),
)


def run_demo(directory: str, rows: int, days: int) -> str:
    """Generate, configure, run both monitors (``DEMO_MONITORS``: fraud scoring, then the
    recommender); return the printed summary. Each step logs a line when it starts and one with
    its seconds on the progress logger (stderr from the command line)."""
    from perfmon_spark.config import load_config
    from perfmon_spark.job import run_monitor
    from perfmon_spark.job.progress import PROGRESS
    from perfmon_spark.rollback import rollback
    from perfmon_spark.session import get_spark
    from perfmon_spark.summary import summarise
    from perfmon_spark.vocabulary import RunMode

    began = time.perf_counter()
    PROGRESS.info("demo: starting a local Spark session ...")
    spark = get_spark()
    PROGRESS.info("demo: Spark session ready (%.1f s)", time.perf_counter() - began)

    requests = max(rows // 6, 100)
    PROGRESS.info(
        "demo: writing the sample lakehouse in %s: %s fraud predictions and their labels, "
        "%s recommender requests and their clicks, over %d days ...",
        directory,
        f"{rows:,}",
        f"{requests:,}",
        days,
    )
    start = time.perf_counter()
    lake = generate_lakehouse(spark, directory, rows=rows, days=days)
    fraud_seconds = time.perf_counter() - start
    generate_recommender(spark, lake.root, requests=requests, days=days)
    seconds = time.perf_counter() - start
    PROGRESS.info(
        "demo: data written (%.1f s: fraud tables %.1f s, recommender tables %.1f s)",
        seconds,
        fraud_seconds,
        seconds - fraud_seconds,
    )

    out = []
    texts = {"perfmon.yml": demo_config(lake), "recommender.yml": recommender_config(lake)}
    for number, (name, what) in enumerate(DEMO_MONITORS, 1):
        config_path = lake.root / name
        config_path.write_text(texts[name], encoding="utf-8")
        cfg = load_config(config_path)
        PROGRESS.info(
            "demo: monitor %d of %d: %s (%s), a full run as of %s: %s ...",
            number,
            len(DEMO_MONITORS),
            cfg.name,
            Path(directory) / name,
            f"{lake.as_of:%Y-%m-%d}",
            what,
        )
        start = time.perf_counter()
        result = run_monitor(cfg, lake.as_of, mode=RunMode.FULL, spark=spark)
        run_seconds = time.perf_counter() - start
        out.append(summarise(spark, cfg, result, config_path))
        if cfg.versions.enabled:
            out[-1] += f"\nperfmon rollback (dry run): {rollback(spark, cfg).line}"
        seconds = time.perf_counter() - start
        PROGRESS.info(
            "demo: monitor %s done (%.1f s: run %.1f s, summary %.1f s)",
            cfg.name,
            seconds,
            run_seconds,
            seconds - run_seconds,
        )
    PROGRESS.info("demo: done in %.0f s; the summaries follow on stdout", time.perf_counter() - began)
    return "\n\n".join(out)
