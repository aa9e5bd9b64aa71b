"""ROC curve and AUC of scores for a binary outcome (1 = abnormal), with numpy only."""

from __future__ import annotations

import numpy as np


def roc_curve(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates, thresholds), from (0, 0) to (1, 1).

    One point per distinct score, highest threshold first; ties move both rates at once.
    """
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    y, s = y[order], s[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last index of each distinct score
    tp, fp = np.cumsum(y)[last], np.cumsum(~y)[last]
    pos, neg = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return np.r_[0.0, fp / neg], np.r_[0.0, tp / pos], np.r_[np.inf, s[last]]


def auc(labels, scores) -> float:
    """Area under the ROC curve (the Mann-Whitney probability that an abnormal case scores above a
    normal one, ties counting half); NaN when one class is missing."""
    y = np.asarray(labels, dtype=bool)
    if y.all() or not y.any():
        return float("nan")
    fpr, tpr, _ = roc_curve(y, scores)
    return float(np.trapezoid(tpr, fpr))


def accuracy(labels, scores, threshold: float = 0.5) -> float:
    y = np.asarray(labels, dtype=bool)
    return float(np.mean((np.asarray(scores) >= threshold) == y)) if len(y) else float("nan")
