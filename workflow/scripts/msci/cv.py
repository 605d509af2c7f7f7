"""The one cross-validation loop: folds → out-of-fold predictions, fold-averaged test predictions.

Every model type goes through here. Models follow a small scikit-learn-like protocol
(:mod:`msci.models`): ``fit(X, y, eval_set=[…])`` where the model accepts an ``eval_set`` (it
early-stops on the last one), and ``predict(X)``. Early-stopping models pick their epoch or round on
an inner split of each fold's training cells, never on the fold they are scored on; the scored fold
is passed as an earlier eval set only to be watched, which shows how much picking the epoch on it —
the original solution's way — would have overstated the score.

Targets may differ per split (:class:`SplitTargets`): with compressed targets each fold trains on codes
of a codec fit without its held-out cells (:mod:`msci.split_codecs`), so its OOF rows stay in its own
code space and its test predictions are mapped into the global one before they are averaged.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from msci.metrics import row_pearson
from msci.validation.folds import inner_split

log = logging.getLogger(__name__)


class SplitTargets(Protocol):
    """What each CV split trains on and is scored against, and how its predictions reach the global space."""

    def codes(self, split: int | str) -> tuple[np.ndarray, np.ndarray | None]:
        """Every training cell's targets (cells × targets) and per-cell ρ (or ``None``) for a split."""
        ...

    def to_global(self, split: int | str, pred: np.ndarray) -> np.ndarray:
        """The split's test predictions in the space the fold models' predictions are averaged in."""
        ...


@dataclass
class SameTargets:
    """One target matrix (and ρ) for every split: exact targets, or codes of one codec."""

    Y: np.ndarray
    rho: np.ndarray | None = None

    def codes(self, split: int | str) -> tuple[np.ndarray, np.ndarray | None]:
        return self.Y, self.rho

    def to_global(self, split: int | str, pred: np.ndarray) -> np.ndarray:
        return pred


@dataclass
class CVResult:
    """OOF predictions (each row from the fold that held it out), fold-averaged test predictions, scores.

    ``pearson``: each training cell's exact Pearson (ρ applied) against its truth under its fold's targets.
    """

    oof: np.ndarray
    test: np.ndarray
    fold_scores: list[float]
    fit_seconds: float
    fold_info: list[dict[str, Any]] = field(default_factory=list)
    pearson: np.ndarray | None = None


@dataclass
class HeldOut:
    """Predictions of the cells a model never saw while training or choosing its epoch (``pearson``: per cell)."""

    pred: np.ndarray
    score: float
    info: dict[str, Any]
    test: np.ndarray | None = None
    pearson: np.ndarray | None = None


def stops_early(model) -> bool:
    """Whether an eval set would choose the model's epoch or round (only then are cells held back for it)."""
    return "eval_set" in inspect.signature(model.fit).parameters and bool(getattr(model, "stops_early", True))


def takes_groups(model) -> bool:
    """Whether the model's ``fit`` uses each cell's batch (``groups``: e.g. kernel ridge's halves of the batches)."""
    return "groups" in inspect.signature(model.fit).parameters


def fit_held_out(model, X: np.ndarray, Y: np.ndarray, train: np.ndarray, valid: np.ndarray,
                 rho: np.ndarray | None = None, stop_labels: np.ndarray | None = None,
                 stop_fraction: float = 0.1, seed: int = 0, X_test: np.ndarray | None = None,
                 groups: np.ndarray | None = None, stop_groups: np.ndarray | None = None) -> HeldOut:
    """Fit ``model`` on the ``train`` rows and predict the ``valid`` rows (index arrays).

    A model that early-stops gets an inner split of ``train`` (``stop_fraction`` of it, stratified
    on ``stop_labels``, or whole batches of ``stop_groups`` where given: :func:`inner_split`) to stop on;
    ``valid`` is only watched. ``pearson_if_stopped_on_scored`` is its best score among the epochs run: a
    lower bound of what choosing the epoch on ``valid`` would have reported (training stopped when the inner
    split stopped improving, on fewer cells).
    """
    t0 = time.perf_counter()
    w_va = rho[valid] if rho is not None else None
    info: dict[str, Any] = {}

    def batches(rows: np.ndarray) -> dict[str, np.ndarray]:
        return {"groups": groups[rows]} if groups is not None and takes_groups(model) else {}

    if stops_early(model):
        fit_rows, stop_rows = inner_split(train, stop_labels[train] if stop_labels is not None else None,
                                          stop_fraction, seed, stop_groups[train] if stop_groups is not None else None)
        watched = (X[valid], Y[valid], w_va)
        stop = (X[stop_rows], Y[stop_rows], rho[stop_rows] if rho is not None else None)
        model.fit(X[fit_rows], Y[fit_rows], eval_set=[watched, stop], **batches(fit_rows))
        info.update(n_fit=int(len(fit_rows)), n_stop=int(len(stop_rows)))
        # eval_best_: a model's own figure (bagged networks: each network at its best epoch on the set).
        best = getattr(model, "eval_best_", None)
        history = getattr(model, "eval_history_", [[]])[0]
        if best is not None or history:
            info["pearson_if_stopped_on_scored"] = float(best[0] if best is not None else max(history))
    else:
        model.fit(X[train], Y[train], **batches(train))
    pred = model.predict(X[valid])
    r = row_pearson(Y[valid], pred) * (w_va if w_va is not None else 1.0)
    score = float(r.mean()) if len(r) else float("nan")
    test = model.predict(X_test) if X_test is not None else None
    info.update(pearson=score, seconds=time.perf_counter() - t0, **getattr(model, "fit_info_", {}))
    return HeldOut(pred, score, info, test, r)


def cross_validate(make_model: Callable[[int], Any], X: np.ndarray, Y: np.ndarray | SplitTargets, folds: np.ndarray,
                   X_test: np.ndarray | None, rho: np.ndarray | None = None, stop_labels: np.ndarray | None = None,
                   stop_fraction: float = 0.1, seed: int = 0,
                   on_test: Callable[[int, np.ndarray], None] | None = None,
                   on_fold: Callable[[int, Any], None] | None = None,
                   on_score: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
                   groups: np.ndarray | None = None, stop_groups: np.ndarray | None = None) -> CVResult:
    """Train one model per fold; OOF rows come from the fold that held them out.

    Test predictions are the mean over folds of each fold model's ``predict`` (models that
    early-stop restore their best checkpoint before predicting), mapped into the global space first.
    ``Y``: one target matrix for every fold (``rho`` per cell turns the Pearson of codes into the genes'
    exact Pearson), or :class:`SplitTargets` giving each fold its own (one fold's in memory at a time).
    ``stop_labels``/``stop_groups``/``stop_fraction``/``seed``: the inner early-stopping split (:func:`fit_held_out`).
    ``on_test(k, pred)``: called with each fold model's test predictions (global space) as they are made, so
    a caller can keep them (the folds' spread) without this loop holding a copy per fold.
    ``on_fold(k, model)``: called with each fold's fitted model (e.g. to save it) before the next is made.
    ``on_score(k, rows, pearson)``: called with each fold's held-out rows and their per-cell Pearson as soon as it
    is scored (a tuning trial reports them to its pruner, which may stop the loop by raising).
    ``groups``: each cell's batch, given to the models whose ``fit`` takes it (:func:`takes_groups`).
    """
    if hasattr(Y, "to_global") and rho is not None:
        raise ValueError("rho comes with the split targets: give it only with one target matrix")
    targets = Y if hasattr(Y, "to_global") else SameTargets(np.asarray(Y), rho)
    folds = np.asarray(folds)
    ks = np.unique(folds[folds >= 0])
    if len(ks) < 2:
        raise ValueError("cross-validation needs at least two folds")
    n_test = 0 if X_test is None else X_test.shape[0]  # None: scoring only (a tuning trial), no test predictions
    oof, test, pearson = None, np.zeros((n_test, 0)), np.zeros(len(folds))
    scores, info = [], []
    t0 = time.perf_counter()
    for k in ks:
        Y_k, rho_k = targets.codes(int(k))
        tr, va = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        model = make_model(int(k))
        held = fit_held_out(model, X, Y_k, tr, va, rho_k, stop_labels, stop_fraction, seed + int(k), X_test, groups,
                            stop_groups)
        if on_fold is not None:
            on_fold(int(k), model)
        del model
        del Y_k  # before the next fold's are read: one fold's targets in memory at a time
        if oof is None:
            oof = np.zeros((len(folds), held.pred.shape[1]), dtype=np.float32)
            test = np.zeros((n_test, held.pred.shape[1]), dtype=np.float64)
        oof[va], pearson[va] = held.pred, held.pearson
        if on_score is not None:
            on_score(int(k), va, held.pearson)
        if X_test is not None:
            fold_test = targets.to_global(int(k), held.test)
            test += fold_test / len(ks)
            if on_test is not None:
                on_test(int(k), np.asarray(fold_test, dtype=np.float32))
        scores.append(held.score)
        info.append({"fold": int(k), "n_valid": int(len(va)), **held.info})
        log.info("fold %d/%d: %d train, %d valid cells, Pearson %.4f (%.1f s)", k + 1, len(ks), len(tr), len(va),
                 held.score, held.info["seconds"])
    return CVResult(oof, test.astype(np.float32), scores, time.perf_counter() - t0, info, pearson)


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
