"""The one cross-validation loop: folds → out-of-fold predictions, fold-averaged test predictions.

Every model type goes through here. Models follow a small scikit-learn-like protocol
(:mod:`msci.models`): ``fit(X, y, eval_set=[…])`` where the model accepts an ``eval_set`` (it
early-stops on the last one), and ``predict(X)``. Early-stopping models pick their epoch or round on
an inner split of each fold's training cells, never on the fold they are scored on; the scored fold
is passed as an earlier eval set only to be watched, which shows how much picking the epoch on it —
the original solution's way — would have overstated the score.
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

from msci.metrics import mean_row_pearson, row_pearson
from msci.validation.folds import inner_split

log = logging.getLogger(__name__)


@dataclass
class CVResult:
    oof: np.ndarray
    test: np.ndarray
    fold_scores: list[float]
    fit_seconds: float
    fold_info: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class HeldOut:
    """Predictions of the cells a model never saw while training or choosing its epoch."""

    pred: np.ndarray
    score: float
    info: dict[str, Any]
    test: np.ndarray | None = None


def stops_early(model) -> bool:
    """Whether an eval set would choose the model's epoch or round (only then are cells held back for it)."""
    return "eval_set" in inspect.signature(model.fit).parameters and bool(getattr(model, "stops_early", True))


def fit_held_out(model, X: np.ndarray, Y: np.ndarray, train: np.ndarray, valid: np.ndarray,
                 rho: np.ndarray | None = None, stop_labels: np.ndarray | None = None,
                 stop_fraction: float = 0.1, seed: int = 0, X_test: np.ndarray | None = None) -> HeldOut:
    """Fit ``model`` on the ``train`` rows and predict the ``valid`` rows (index arrays).

    A model that early-stops gets an inner split of ``train`` (``stop_fraction`` of it, stratified
    on ``stop_labels``) to stop on; ``valid`` is only watched. ``pearson_if_stopped_on_scored`` is
    its best score among the epochs run: a lower bound of what choosing the epoch on ``valid`` would
    have reported (training stopped when the inner split stopped improving, on fewer cells).
    """
    t0 = time.perf_counter()
    w_va = rho[valid] if rho is not None else None
    info: dict[str, Any] = {}
    if stops_early(model):
        fit_rows, stop_rows = inner_split(train, stop_labels[train] if stop_labels is not None else None,
                                          stop_fraction, seed)
        watched = (X[valid], Y[valid], w_va)
        stop = (X[stop_rows], Y[stop_rows], rho[stop_rows] if rho is not None else None)
        model.fit(X[fit_rows], Y[fit_rows], eval_set=[watched, stop])
        info.update(n_fit=int(len(fit_rows)), n_stop=int(len(stop_rows)))
        # eval_best_: a model's own figure (bagged networks: each network at its best epoch on the set).
        best = getattr(model, "eval_best_", None)
        history = getattr(model, "eval_history_", [[]])[0]
        if best is not None or history:
            info["pearson_if_stopped_on_scored"] = float(best[0] if best is not None else max(history))
    else:
        model.fit(X[train], Y[train])
    pred = model.predict(X[valid])
    score = mean_row_pearson(Y[valid], pred, w_va)
    test = model.predict(X_test) if X_test is not None else None
    info.update(pearson=score, seconds=time.perf_counter() - t0, **getattr(model, "fit_info_", {}))
    return HeldOut(pred, score, info, test)


def cross_validate(make_model: Callable[[int], Any], X: np.ndarray, Y: np.ndarray, folds: np.ndarray,
                   X_test: np.ndarray, rho: np.ndarray | None = None, stop_labels: np.ndarray | None = None,
                   stop_fraction: float = 0.1, seed: int = 0) -> CVResult:
    """Train one model per fold; OOF rows come from the fold that held them out.

    Test predictions are the mean over folds of each fold model's ``predict`` (models that
    early-stop restore their best checkpoint before predicting). ``Y`` may be target codes
    (:mod:`msci.target_codes`); ``rho`` then turns their Pearson into the genes' exact Pearson.
    ``stop_labels``/``stop_fraction``/``seed``: the inner early-stopping split (:func:`fit_held_out`).
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
        tr, va = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        held = fit_held_out(make_model(int(k)), X, Y, tr, va, rho, stop_labels, stop_fraction, seed + int(k), X_test)
        oof[va] = held.pred
        test += held.test / len(ks)
        scores.append(held.score)
        info.append({"fold": int(k), "n_valid": int(len(va)), **held.info})
        log.info("fold %d/%d: %d train, %d valid cells, Pearson %.4f (%.1f s)", k + 1, len(ks), len(tr), len(va),
                 held.score, held.info["seconds"])
    return CVResult(oof, test.astype(np.float32), scores, time.perf_counter() - t0, info)


def stopping_overstatement(result: CVResult) -> dict[str, float] | None:
    """What choosing each fold's epoch on the fold itself would at least have reported, against the honest CV.

    ``None`` for models that do not early-stop.
    """
    if not result.fold_info or not all("pearson_if_stopped_on_scored" in f for f in result.fold_info):
        return None
    n = np.array([f["n_valid"] for f in result.fold_info], dtype=np.float64)
    honest = float(np.dot(n, [f["pearson"] for f in result.fold_info]) / n.sum())
    old = float(np.dot(n, [f["pearson_if_stopped_on_scored"] for f in result.fold_info]) / n.sum())
    return {"cv_pearson_if_stopped_on_scored_fold": old, "early_stopping_overstatement": old - honest}


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
