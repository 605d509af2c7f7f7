"""The one cross-validation loop: folds → out-of-fold predictions, fold-averaged test predictions.

Every model type goes through here. Models follow a small scikit-learn-like protocol:
``fit(X, y, eval_set=[(X_valid, y_valid)])`` (``eval_set`` only where the model accepts it, for
early stopping on the held-out fold) and ``predict(X)``.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from msci.metrics import row_pearson

log = logging.getLogger(__name__)


@dataclass
class CVResult:
    oof: np.ndarray
    test: np.ndarray
    fold_scores: list[float]
    fit_seconds: float
    fold_info: list[dict[str, Any]] = field(default_factory=list)


def _fit(model, X, y, X_valid, y_valid) -> None:
    if "eval_set" in inspect.signature(model.fit).parameters:
        model.fit(X, y, eval_set=[(X_valid, y_valid)])
    else:
        model.fit(X, y)


def cross_validate(make_model: Callable[[int], Any], X: np.ndarray, Y: np.ndarray, folds: np.ndarray,
                   X_test: np.ndarray, rho: np.ndarray | None = None) -> CVResult:
    """Train one model per fold; OOF rows come from the fold that held them out.

    Test predictions are the mean over folds of each fold model's ``predict`` (models that
    early-stop restore their best checkpoint before predicting). ``Y`` may be target codes
    (:mod:`msci.target_codes`); ``rho`` then turns their Pearson into the genes' exact Pearson.
    """
    folds = np.asarray(folds)
    ks = np.unique(folds[folds >= 0])
    if len(ks) < 2:
        raise ValueError("cross-validation needs at least two folds")
    oof = np.zeros(Y.shape, dtype=np.float32)
    test = np.zeros((X_test.shape[0], Y.shape[1]), dtype=np.float64)
    scores, info = [], []
    t0 = time.perf_counter()
    for k in ks:
        tr, va = folds != k, folds == k
        tf = time.perf_counter()
        model = make_model(int(k))
        _fit(model, X[tr], Y[tr], X[va], Y[va])
        oof[va] = model.predict(X[va])
        test += model.predict(X_test) / len(ks)
        r = row_pearson(Y[va], oof[va])
        scores.append(float((r * rho[va] if rho is not None else r).mean()))
        extra = getattr(model, "fit_info_", {})
        info.append({"fold": int(k), "pearson": scores[-1], "seconds": time.perf_counter() - tf, **extra})
        log.info("fold %d/%d: %d train, %d valid cells, Pearson %.4f (%.1f s)", k + 1, len(ks), tr.sum(), va.sum(),
                 scores[-1], info[-1]["seconds"])
    return CVResult(oof, test.astype(np.float32), scores, time.perf_counter() - t0, info)


def cv_metrics(Y: np.ndarray, oof: np.ndarray, cells: pd.DataFrame, rho: np.ndarray | None = None) -> dict[str, Any]:
    """Mean per-cell Pearson of OOF predictions: all cells, good-validation cells, per day.

    ``rho`` (per cell) scales Pearson on target codes to the exact Pearson on the genes.
    """
    r = row_pearson(Y, oof)
    return row_metrics(r * rho if rho is not None else r, cells)


def row_metrics(r: np.ndarray, cells: pd.DataFrame) -> dict[str, Any]:
    """Summaries of per-cell Pearson values ``r`` (aligned to ``cells``): all, good validation, per day."""
    out: dict[str, Any] = {"cv_pearson": float(r.mean()), "n_cells": int(len(r))}
    if "good_validation" in cells:
        good = cells["good_validation"].to_numpy(bool)
        out["cv_pearson_good_validation"] = float(r[good].mean()) if good.any() else None
    if "day" in cells:
        by_day = pd.Series(r).groupby(cells["day"].to_numpy()).mean()
        out["cv_pearson_by_day"] = {str(d): float(v) for d, v in by_day.items()}
    return out
