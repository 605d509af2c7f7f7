"""Blend models' predictions of one modality after standardisation, with Optuna-searched weights.

The metric is a Pearson correlation per cell, so by default each model's prediction rows are
centred and scaled to unit variance before weighting (``standardize="row"``): the blend weighs each
model's *shape* of a cell's profile, not its scale. ``"matrix"`` standardises each model's whole
matrix at once (what the original solution did), ``"none"`` blends raw predictions.

Weights are searched by Optuna (seeded TPE) to maximise the mean per-cell Pearson on the
good-validation OOF cells (or all OOF cells). To see whether the search overfits, weights are also
fit on the cells of even folds and scored on odd folds and vice versa (``cv_pearson_holdout``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from msci.cv import cv_metrics
from msci.io.artifacts import write_json
from msci.io.matrix import MatrixFile, write_matrix
from msci.metrics import mean_row_pearson

log = logging.getLogger("msci")
STANDARDIZE = ("row", "matrix", "none")


def row_standardize(pred: np.ndarray) -> np.ndarray:
    """Each row centred and scaled to unit standard deviation (constant rows become zeros)."""
    pred = np.asarray(pred, dtype=np.float32)
    centred = pred - pred.mean(axis=1, keepdims=True)
    sd = centred.std(axis=1, keepdims=True)
    return np.divide(centred, sd, out=np.zeros_like(centred), where=sd > 0)


def matrix_standardize(pred: np.ndarray) -> np.ndarray:
    """The whole matrix centred and scaled by one mean and one standard deviation (the original's way)."""
    pred = np.asarray(pred, dtype=np.float32)
    sd = pred.std()
    return (pred - pred.mean()) / sd if sd > 0 else np.zeros_like(pred)


def standardize(pred: np.ndarray, how: str = "row") -> np.ndarray:
    if how == "row":
        return row_standardize(pred)
    if how == "matrix":
        return matrix_standardize(pred)
    if how == "none":
        return np.asarray(pred, dtype=np.float32)
    raise ValueError(f"standardize must be one of {', '.join(STANDARDIZE)}, not {how!r}")


def blend(preds: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted sum of (already standardised) predictions, weights normalised to sum 1."""
    w = np.asarray(weights, dtype=np.float64)
    if len(w) != len(preds) or (w < 0).any() or w.sum() <= 0:
        raise ValueError("need one non-negative weight per prediction, not all zero")
    w = w / w.sum()
    out = np.zeros(np.shape(preds[0]), dtype=np.float32)
    for p, wi in zip(preds, w, strict=True):
        if wi > 0:
            out += np.float32(wi) * p
    return out


def optimize_weights(preds: Sequence[np.ndarray], y: np.ndarray, n_trials: int = 100, seed: int = 0) -> np.ndarray:
    """Non-negative weights (summing to 1) maximising mean per-cell Pearson of the blend, by seeded TPE."""
    if len(preds) == 1:
        return np.ones(1)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        w = np.array([trial.suggest_float(f"w{i}", 0.0, 1.0) for i in range(len(preds))])
        return mean_row_pearson(y, blend(preds, w)) if w.sum() > 0 else -1.0

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({f"w{i}": 1.0 for i in range(len(preds))})  # equal weights are always tried
    study.optimize(objective, n_trials=n_trials)
    w = np.array([study.best_params[f"w{i}"] for i in range(len(preds))])
    return w / w.sum()


def ensemble_models(oof_paths: Mapping[str, str], test_paths: Mapping[str, str], targets_path: str,
                    cells_path: str, folds_path: str, out_oof: str, out_test: str, out_weights: str,
                    out_metrics: str, method: str = "optuna", weights: Mapping[str, float] | None = None,
                    standardize_how: str = "row", fit_on: str = "good_validation", n_trials: int = 100,
                    seed: int = 0) -> dict:
    """Blend the named models of one modality and write the blend, its weights and its metrics."""
    names = list(oof_paths)
    oof_files = [MatrixFile(oof_paths[n]) for n in names]
    test_files = [MatrixFile(test_paths[n]) for n in names]
    targets = MatrixFile(targets_path)
    for f in oof_files + test_files:
        if list(f.var_names) != list(targets.var_names):
            raise ValueError(f"{f.path}: targets differ from {targets.path}")
    train_ids = oof_files[0].obs_names
    Y = np.asarray(targets.read(), dtype=np.float32)
    oofs = [standardize(f.read(), standardize_how) for f in oof_files]
    tests = [standardize(f.read(), standardize_how) for f in test_files]
    folds = pd.read_parquet(folds_path).loc[train_ids]
    cells = pd.read_parquet(cells_path).loc[train_ids]
    cells["good_validation"] = folds["good_validation"].to_numpy() if "good_validation" in folds else False
    fit_mask = cells["good_validation"].to_numpy(bool) if fit_on == "good_validation" else np.ones(len(Y), bool)
    if not fit_mask.any():
        log.warning("no good-validation cells: weights are fit on all OOF cells")
        fit_mask = np.ones(len(Y), bool)

    def fit(mask: np.ndarray) -> np.ndarray:
        if method == "optuna":
            return optimize_weights([p[mask] for p in oofs], Y[mask], n_trials, seed)
        if method == "fixed":
            w = np.array([float((weights or {}).get(n, 0.0)) for n in names])
            return w / w.sum()
        if method == "mean":
            return np.full(len(names), 1.0 / len(names))
        raise ValueError(f"method must be optuna, fixed or mean, not {method!r}")

    w = fit(fit_mask)
    # Overfitting guard: weights fit on half of the scoring cells, scored on the other half.
    even = (folds["fold"].to_numpy() % 2 == 0)
    holdout = []
    for a, b in ((even, ~even), (~even, even)):
        if (fit_mask & a).any() and (fit_mask & b).any():
            wa = fit(fit_mask & a)
            holdout.append(mean_row_pearson(Y[fit_mask & b], blend([p[fit_mask & b] for p in oofs], wa)))
    oof = blend(oofs, w)
    test = blend(tests, w)
    metrics = cv_metrics(Y, oof, cells)
    singles = {n: cv_metrics(Y, p, cells) for n, p in zip(names, oofs, strict=True)}
    best = max(singles, key=lambda n: singles[n].get("cv_pearson_good_validation") or singles[n]["cv_pearson"])
    weight_map = {n: float(x) for n, x in zip(names, w, strict=True)}
    metrics.update({
        "method": method, "standardize": standardize_how, "fit_on": fit_on, "n_fit_cells": int(fit_mask.sum()),
        "weights": weight_map, "zero_weight_models": [n for n, x in weight_map.items() if x == 0.0],
        "cv_pearson_fit_cells": mean_row_pearson(Y[fit_mask], oof[fit_mask]),
        "cv_pearson_holdout": float(np.mean(holdout)) if holdout else None,
        "best_single_model": best,
        "best_single_cv_pearson_good_validation": singles[best].get("cv_pearson_good_validation"),
        "best_single_cv_pearson": singles[best]["cv_pearson"],
        "models": {n: {k: m[k] for k in ("cv_pearson", "cv_pearson_good_validation") if k in m}
                   for n, m in singles.items()},
    })
    if standardize_how == "row" and len(names) > 1:  # what the original's whole-matrix standardisation gives
        metrics["cv_pearson_matrix_standardized"] = mean_row_pearson(
            Y, blend([matrix_standardize(f.read()) for f in oof_files], w))
    write_matrix(out_oof, oof, train_ids, targets.var_names)
    write_matrix(out_test, test, test_files[0].obs_names, targets.var_names)
    write_json(weight_map, out_weights)
    write_json(metrics, out_metrics)
    log.info("blend of %s with weights %s: CV Pearson %.4f (good validation %s); best single %s",
             ", ".join(names), {n: round(x, 3) for n, x in weight_map.items()}, metrics["cv_pearson"],
             metrics.get("cv_pearson_good_validation"), best)
    return metrics
