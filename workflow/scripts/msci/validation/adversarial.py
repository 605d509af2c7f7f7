"""Adversarial validation: which training cells look like test cells?

A classifier learns to tell train from test cells; cross-fitting gives every cell an
out-of-fold probability of being a test cell. Training cells it mistakes for test cells are the
"good validation" cells: the folds are stratified on them and the blend is scored on them.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

log = logging.getLogger(__name__)
CLASSIFIERS = ("hgb", "logistic")


def make_classifier(kind: str, seed: int = 0):
    """A fast binary/multiclass classifier: ``hgb`` (histogram gradient boosting) or ``logistic``."""
    if kind == "hgb":
        return HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_leaf_nodes=15,
                                              early_stopping=False, random_state=seed)
    if kind == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000))
    raise ValueError(f"unknown classifier {kind!r}; choose one of {', '.join(CLASSIFIERS)}")


def cross_fit_proba(X: np.ndarray, y: np.ndarray, kind: str, n_splits: int, seed: int) -> np.ndarray:
    """Out-of-fold class probabilities (n × n_classes) of a classifier, stratified folds."""
    classes = np.unique(y)
    proba = np.zeros((len(y), len(classes)))
    for train, held in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(X, y):
        clf = make_classifier(kind, seed).fit(X[train], y[train])
        cols = np.searchsorted(classes, clf.classes_)
        proba[np.ix_(held, cols)] = clf.predict_proba(X[held])
    return proba


def adversarial_validation(features: pd.DataFrame, cells: pd.DataFrame, classifier: str = "hgb",
                           n_splits: int = 5, threshold: float = 0.5, min_share: float = 0.05,
                           seed: int = 0) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Per-cell ``is_test``, out-of-fold ``p_test`` and ``good_validation``; and summary metrics.

    Good validation = training cells with ``p_test ≥ threshold``. If fewer than ``min_share`` of the
    training cells qualify, the ``min_share`` training cells with the highest ``p_test`` are taken
    instead (and the metrics say so).
    """
    is_test = (cells.loc[features.index, "split"] == "test").to_numpy()
    p_test = cross_fit_proba(features.to_numpy(np.float32), is_test.astype(int), classifier, n_splits, seed)[:, 1]
    train = ~is_test
    good = train & (p_test >= threshold)
    n_min = int(np.ceil(min_share * train.sum()))
    fallback = good.sum() < n_min
    if fallback:
        order = np.flatnonzero(train)[np.argsort(-p_test[train], kind="stable")]
        good = np.zeros_like(train)
        good[order[:n_min]] = True
        log.warning("only %d training cells have p_test >= %.2f; taking the %d (%.0f%%) most test-like instead",
                    int((train & (p_test >= threshold)).sum()), threshold, n_min, 100 * min_share)
    out = pd.DataFrame({"is_test": is_test, "p_test": p_test.astype(np.float32), "good_validation": good},
                       index=features.index)
    meta = cells.loc[features.index]
    good_cells = meta[good]
    metrics = {
        "classifier": classifier,
        "auc": float(roc_auc_score(is_test, p_test)),
        "accuracy": float(accuracy_score(is_test, p_test >= 0.5)),
        "threshold": threshold,
        "fallback_top_share": bool(fallback),
        "n_train": int(train.sum()),
        "n_test": int(is_test.sum()),
        "n_good_validation": int(good.sum()),
        "mean_p_test_good_validation": float(p_test[good].mean()),
        "mean_p_test_other_train": float(p_test[train & ~good].mean()) if (train & ~good).any() else None,
        "good_validation_by_day": {str(k): int(v) for k, v in good_cells["day"].value_counts().sort_index().items()},
        "good_validation_by_donor": {str(k): int(v) for k, v in
                                     good_cells["donor"].value_counts().sort_index().items()},
    }
    log.info("adversarial AUC %.3f, accuracy %.3f; %d good-validation cells", metrics["auc"], metrics["accuracy"],
             metrics["n_good_validation"])
    return out, metrics
