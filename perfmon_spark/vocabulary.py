"""The domain's vocabulary, declared once: every word that is written to an output table or that
one step hands to another (levels, statuses, decisions, modes, row statuses, reasons) and the
special slice and version values.

The enums are ``str`` subclasses whose value is the word users see in the tables, so they compare
equal to the strings Spark returns and serialise as themselves; order and behaviour (a level's
rank and action) live on the enum, never in a literal elsewhere.
"""

from __future__ import annotations

import sys
from enum import Enum

if sys.version_info >= (3, 11):
    from enum import StrEnum
else:  # pragma: no cover  (Python 3.10)

    class StrEnum(str, Enum):
        def __str__(self) -> str:
            return str(self.value)


# Slice and version values with a meaning (SPEC §4).
OVERALL = "*"  # slice_key and slice_value of the overall slice
ALL_VERSIONS = "*"  # model_version of all versions together
OTHER = "__other__"  # a segment value outside the top segments.max_values
NULL_VALUE = "__null__"  # a null segment value
CROSS_SEP = "&"  # joins the columns (slice_key) and values (slice_value) of a crossed segment


class ProblemType(StrEnum):
    BINARY = "binary"
    MULTICLASS = "multiclass"
    REGRESSION = "regression"
    RANKING = "ranking"


class Action(StrEnum):
    """What a level or a model status asks of people (``perf_alerts.action``, ``model_status.action``)."""

    NONE = "NONE"
    OBSERVE = "OBSERVE"
    LOG = "LOG"
    ALERT = "ALERT"
    BLOCK_OR_ROLLBACK = "BLOCK_OR_ROLLBACK"


class Level(StrEnum):
    """Alert levels, in increasing severity."""

    MINOR = "MINOR"
    SUSTAINED = "SUSTAINED"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        """1 for MINOR up to 3 for CRITICAL: compare levels by rank, never by name."""
        return _LEVEL_ORDER.index(self) + 1

    @property
    def action(self) -> Action:
        return _LEVEL_ACTIONS[self]


_LEVEL_ORDER = tuple(Level)
_LEVEL_ACTIONS = {Level.MINOR: Action.LOG, Level.SUSTAINED: Action.ALERT, Level.CRITICAL: Action.BLOCK_OR_ROLLBACK}


class ExtraVariance(StrEnum):
    """``alerts[].extra_variance``: how a rule measures the variation of its windows beyond their
    sampling error (day-to-day variation), which every comparison with the baseline adds."""

    MOMENTS = "moments"  # the reference period's windows: observed variance minus mean sampling variance
    ROBUST = "robust"  # the same with a median-based spread, for a reference period with outlying windows
    NONE = "none"  # sampling error only


class AlertStatus(StrEnum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"


class AlertEvent(StrEnum):
    """``alert_events.event``: a change between the stored episode and the one a run found."""

    RAISED = "RAISED"
    ESCALATED = "ESCALATED"
    DEESCALATED = "DEESCALATED"
    RESOLVED = "RESOLVED"
    REOPENED = "REOPENED"
    RETRACTED = "RETRACTED"


class Delivery(StrEnum):
    """``alert_events.delivery``: NONE where no sink asks for the event's level, or for the events
    of an episode that opened and resolved before the run first saw it (history, not news)."""

    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"
    NONE = "NONE"

    @property
    def outstanding(self) -> bool:
        """Still to be (re)tried by the next run."""
        return self in (Delivery.PENDING, Delivery.FAILED)


class Decision(StrEnum):
    RETRAIN = "RETRAIN"
    NO_ACTION = "NO_ACTION"
    COOLDOWN = "COOLDOWN"


class Verdict(StrEnum):
    """A challenger against the champion on one metric and window (``version_comparison``)."""

    BETTER = "BETTER"
    WORSE = "WORSE"
    NOT_WORSE = "NOT_WORSE"  # no worse than the margin allows
    INCONCLUSIVE = "INCONCLUSIVE"  # too few labels, or the interval spans the margin


class RollbackControl(StrEnum):
    """What refused a due rollback (``rollbacks.refused_by``), in the order ``perfmon rollback``
    checks them."""

    NO_TARGET = "no_target"  # model_status names no healthy better version
    EVIDENCE = "evidence"  # the target is not BETTER or NOT_WORSE than the champion on enough labels
    COOLDOWN = "cooldown"  # the monitor's last rollback is within versions.rollback_cooldown
    IN_FLIGHT = "in_flight"  # a run or another rollback holds the monitor


class Trigger(StrEnum):
    """``retrain.triggers``: what may recommend a retrain."""

    SUSTAINED = "sustained"
    CRITICAL = "critical"
    KPI = "kpi"
    DRIFT_AND_DECAY = "drift_and_decay"


class ModelStatus(StrEnum):
    HEALTHY = "HEALTHY"
    DEGRADED = "DEGRADED"
    CRITICAL = "CRITICAL"
    INACTIVE = "INACTIVE"


class RunStatus(StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class RunMode(StrEnum):
    """``runs.mode``: what a run recomputed."""

    FULL = "full"
    INCREMENTAL = "incremental"
    BACKFILL = "backfill"
    UNKNOWN = "unknown"  # a run that failed before it chose


ROLLBACK_HOLDER = "rollback"  # `claims.mode` while `perfmon rollback --apply` holds the monitor


class Stage(StrEnum):
    """The stages of a run, in order: one progress line each, and a key of ``runs.stage_seconds``."""

    READ = "read"  # pin both inputs at their Delta versions
    VALIDATE = "validate"  # columns, baseline table, and the buckets the run recomputes
    STATES = "states"  # the one pass over the rows: quarantine, bucket states, drift histograms
    METRICS = "metrics"  # windows finalised from the stored states; perf_metrics and drift_metrics
    CHECKS = "checks"  # the run's warnings (``runs.warnings``); under --strict a warning stops it here
    ALERTS = "alerts"  # rules, episodes, decisions and model status
    WRITE = "write"  # the runs row, last: it is the next run's watermark


class Source(StrEnum):
    """``quarantine.source``: the input table a bad row came from."""

    PREDICTIONS = "predictions"
    LABELS = "labels"


class Reason(StrEnum):
    """``quarantine.reason`` (SPEC §3): why a row cannot be used."""

    NULL_ID = "null_id"
    NULL_TIMESTAMP = "null_timestamp"
    NULL_MODEL_VERSION = "null_model_version"
    NULL_SCORE = "null_score"
    SCORE_OUT_OF_RANGE = "score_out_of_range"
    BAD_LABEL = "bad_label"
    DUPLICATE_ID = "duplicate_id"
    LABEL_BEFORE_PREDICTION = "label_before_prediction"


class FeatureKind(StrEnum):
    """How a drift feature is binned (``drift_reference.kind``)."""

    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


class DriftMeasure(StrEnum):
    """A distance in ``drift_metrics.measure``."""

    PSI = "psi"
    JS = "js"
    WASSERSTEIN = "wasserstein"


class DriftClass(StrEnum):
    """How a window's performance change relates to its drift (``drift_performance.class``)."""

    DRIFT_AND_DECAY = "DRIFT_AND_DECAY"
    DECAY_WITHOUT_DRIFT = "DECAY_WITHOUT_DRIFT"  # investigate: a pipeline or label problem
    DRIFT_WITHOUT_DECAY = "DRIFT_WITHOUT_DECAY"  # acceptable
    STABLE = "STABLE"
    UNKNOWN = "UNKNOWN"  # immature, too few labels, no baseline or no drift measure yet


class RowStatus(StrEnum):
    """What label resolution made of a row: predictions are usable or quarantined; label events
    are eligible (they may be a prediction's label), late (after max_delay), orphan (no
    prediction) or quarantined."""

    USABLE = "usable"
    QUARANTINED = "quarantined"
    ELIGIBLE = "eligible"
    LATE = "late"
    ORPHAN = "orphan"


class WarningCode(StrEnum):
    """What a run could not see or had to drop (``runs.warnings``): each is also one line on
    stderr, and ``--strict`` fails the run on any of them."""

    LATE_LABELS_IGNORED = "LATE_LABELS_IGNORED"  # label events later than max_delay, above a share
    NO_LABELS = "NO_LABELS"  # no label event at or before as_of
    STALLED_LABELS = "STALLED_LABELS"  # no label event arrived for longer than max_delay
    NO_PREDICTIONS = "NO_PREDICTIONS"  # no prediction at or before as_of
    LOW_LABEL_COVERAGE = "LOW_LABEL_COVERAGE"  # a mature window far below its expected coverage
    VERSION_WITHOUT_LABELS = "VERSION_WITHOUT_LABELS"  # predictions old enough, never a label
