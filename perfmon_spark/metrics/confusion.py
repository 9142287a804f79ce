"""The multiclass state's sparse confusion matrix: (label, prediction) -> count entries.

Merge = union of pairs with counts added. Classes are strings (labels and predictions are cast to
string on read), so integer and string class columns behave alike. An unlabeled prediction is an
entry with label None: it counts for the predicted class shares and for no other metric
(``labeled`` drops it).
"""

from __future__ import annotations

import numpy as np


def merge(parts):
    """Merge [(labels, preds, counts), ...] into one entry list sorted by (label, pred)."""
    parts = [p for p in parts if len(p[0])]
    if not parts:
        return np.zeros(0, dtype=object), np.zeros(0, dtype=object), np.zeros(0)
    labels = np.concatenate([np.asarray(p[0], dtype=object) for p in parts])
    preds = np.concatenate([np.asarray(p[1], dtype=object) for p in parts])
    counts = np.concatenate([np.asarray(p[2], dtype=float) for p in parts])
    # "\x01" marks a missing label: a class name cannot hold it after Spark's string cast in practice
    pairs = np.array([f"{_UNLABELED if a is None else a}\x00{b}" for a, b in zip(labels, preds)], dtype=object)
    uniq, inverse = np.unique(pairs, return_inverse=True)
    summed = np.bincount(inverse, weights=counts, minlength=len(uniq))
    split = [u.split("\x00", 1) for u in uniq]
    label = np.array([None if s[0] == _UNLABELED else s[0] for s in split], dtype=object)
    return label, np.array([s[1] for s in split], dtype=object), summed


_UNLABELED = "\x01"


def labeled(labels, preds, counts):
    """The entries of labeled predictions."""
    keep = np.array([a is not None for a in labels], dtype=bool)
    return np.asarray(labels, dtype=object)[keep], np.asarray(preds, dtype=object)[keep], np.asarray(counts)[keep]


def predicted_counts(labels, preds, counts):
    """(classes, predictions of each class) over every entry, labeled or not."""
    preds = np.asarray(preds, dtype=object).astype(str)
    classes, inverse = np.unique(preds, return_inverse=True)
    return classes, np.bincount(inverse, weights=np.asarray(counts, dtype=float), minlength=len(classes))


def per_class(labels, preds, counts):
    """(classes, tp, predicted, support) over the classes present in labels or predictions."""
    classes = np.unique(np.concatenate([np.asarray(labels, dtype=object), np.asarray(preds, dtype=object)]).astype(str))
    index = {c: i for i, c in enumerate(classes)}
    tp = np.zeros(len(classes))
    predicted = np.zeros(len(classes))
    support = np.zeros(len(classes))
    for a, b, n in zip(labels, preds, counts):
        support[index[str(a)]] += n
        predicted[index[str(b)]] += n
        if a == b:
            tp[index[str(a)]] += n
    return classes, tp, predicted, support
