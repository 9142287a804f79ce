"""The resolved-row frame: what ingest hands to the aggregation, its column names declared once.

Every prediction row and every label row of a run is one row of this frame, told apart by
``KIND``. Normalised values carry a leading ``_`` so they never collide with the user's columns
(which travel beside them: segment columns, KPI inputs, and a bad row's original values).
"""

from __future__ import annotations

from enum import IntEnum

ID = "_id"  # the prediction id (or, for entity joins, the label's entity), as a string
TS = "_ts"  # the prediction timestamp
VERSION = "_version"  # the model version, as a string
SCORE = "_score"  # binary: the score; regression: the predicted value
DECISION = "_decision"  # binary: the 0/1 decision
PRED = "_pred"  # multiclass: the predicted class, as a string
PROBS = "_probs"  # multiclass: class -> probability
ENTITY = "_entity"  # entity joins: the prediction's entity
REQUEST = "_request"  # ranking: the ranked list's id, as a string
ITEM = "_item"  # ranking: the item, as a string
RANK = "_rank_value"  # ranking: the configured position (1 = top), when a rank column is given
LABEL_TS = "_label_ts"  # a label row's arrival time
Y = "_y"  # a label row's label; a usable prediction's resolved label (null while it has none)
REASON = "_reason"  # null, or the quarantine reason (``vocabulary.Reason``)
RECORD = "_record"  # a bad row's original values as JSON (null for good rows)
KIND = "_kind"  # ``RowKind``
STATUS = "_status"  # ``vocabulary.RowStatus``
DELAY = "_delay"  # an eligible or late label event's delay after its prediction, in whole minutes

# The normalised prediction columns, in the order later steps select them.
PREDICTION_VALUES = (ID, TS, VERSION, SCORE, DECISION, PRED, PROBS, ENTITY, REQUEST, ITEM, RANK)


class RowKind(IntEnum):
    PREDICTION = 0
    LABEL = 1
