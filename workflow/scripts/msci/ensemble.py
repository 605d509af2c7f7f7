"""Blend models' predictions of one modality after standardisation, with Optuna-searched weights.

The metric is a Pearson correlation per cell, so by default each model's prediction rows are
centred and scaled to unit variance before weighting (``standardize="row"``): the blend weighs each
model's *shape* of a cell's profile, not its scale. ``"matrix"`` standardises each model's whole
matrix at once (what the original solution did), ``"none"`` blends raw predictions.

Weights are searched by Optuna (seeded TPE) to maximise the mean per-cell Pearson on the
good-validation OOF cells (or all OOF cells). That score is in-sample. The headline score is
out-of-sample: weights fit on the cells of even folds and scored on odd folds and vice versa
(``cv_pearson_holdout``, the mean over ``n_seeds`` repetitions of the seeded search, whose spread is
reported), set against the best single model chosen the same way. ``cv_pearson_day_out`` blends the models'
day-out predictions (trained without the latest training day) with weights fit on the other days.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from msci.cv import row_metrics
from msci.io.artifacts import write_json
from msci.io.matrix import MatrixFile, MatrixWriter
from msci.metrics import row_pearson
from msci.target_codes import load_codec

log = logging.getLogger(__name__)
STANDARDIZE = ("row", "matrix", "none")


def row_standardize(pred: np.ndarray) -> np.ndarray:
    """Each row centred and scaled to unit standard deviation (constant rows become zeros)."""
    pred = np.asarray(pred, dtype=np.float32)
    centred = pred - pred.mean(axis=1, keepdims=True)
    sd = centred.std(axis=1, keepdims=True)
    return np.divide(centred, sd, out=np.zeros_like(centred), where=sd > 0)


def matrix_stats(f: MatrixFile, chunk_rows: int = 4096) -> tuple[float, float]:
    """Mean and standard deviation of every value of a matrix on disk, in one chunked pass."""
    n = s1 = s2 = 0.0
    for _, _, b in f.iter_chunks(chunk_rows):
        b = np.asarray(b, dtype=np.float64)
        n, s1, s2 = n + b.size, s1 + b.sum(), s2 + np.square(b).sum()
    mean = s1 / max(n, 1)
    return float(mean), float(np.sqrt(max(s2 / max(n, 1) - mean * mean, 0.0)))


def matrix_standardize(pred: np.ndarray, stats: tuple[float, float] | None = None) -> np.ndarray:
    """Centred and scaled by one mean and one standard deviation (the original's way).

    ``stats``: the whole matrix's ``(mean, sd)`` when ``pred`` is a block of it.
    """
    pred = np.asarray(pred, dtype=np.float32)
    mean, sd = stats if stats is not None else (float(pred.mean()), float(pred.std()))
    return (pred - np.float32(mean)) / np.float32(sd) if sd > 0 else np.zeros_like(pred)


def standardize(pred: np.ndarray, how: str = "row", stats: tuple[float, float] | None = None) -> np.ndarray:
    if how == "row":
        return row_standardize(pred)
    if how == "matrix":
        return matrix_standardize(pred, stats)
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


def optimize_weights(preds: Sequence[np.ndarray], y: np.ndarray, n_trials: int = 100, seed: int = 0,
                     rho: np.ndarray | None = None) -> np.ndarray:
    """Non-negative weights (summing to 1) maximising mean per-cell Pearson of the blend, by seeded TPE.

    ``rho`` weighs each cell's Pearson (target codes: it makes the score the genes' exact Pearson).
    """
    if len(preds) == 1:
        return np.ones(1)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.enable_propagation()  # into the rule's log (msci.logs), not Optuna's own stderr handler
    optuna.logging.disable_default_handler()

    def objective(trial: optuna.Trial) -> float:
        w = np.array([trial.suggest_float(f"w{i}", 0.0, 1.0) for i in range(len(preds))])
        if w.sum() <= 0:
            return -1.0
        r = row_pearson(y, blend(preds, w))
        return float((r * rho).mean() if rho is not None else r.mean())

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({f"w{i}": 1.0 for i in range(len(preds))})  # equal weights are always tried
    study.optimize(objective, n_trials=n_trials)
    w = np.array([study.best_params[f"w{i}"] for i in range(len(preds))])
    return w / w.sum()


def fixed_weights(names: Sequence[str], weights: Mapping[str, float] | None) -> np.ndarray:
    """The configured weights of ``names``; refuses unknown names, negative, non-finite or all-zero weights."""
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise ValueError(f"ensemble weights name unknown model(s) {', '.join(unknown)}; blended: {', '.join(names)}")
    w = np.array([float(weights.get(n, 0.0)) for n in names])
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"ensemble method fixed needs finite, non-negative weights, not all zero: {weights}")
    return w / w.sum()


class _Standardized:
    """One model's predictions on disk, standardised block by block as the blend needs them."""

    def __init__(self, f: MatrixFile, how: str, chunk_rows: int) -> None:
        self.file, self.how = f, how
        self.stats = matrix_stats(f, chunk_rows) if how == "matrix" else None

    def block(self, start: int, stop: int) -> np.ndarray:
        return standardize(self.file.read(start, stop), self.how, self.stats)

    def rows(self, rows: np.ndarray, chunk_rows: int) -> np.ndarray:
        return standardize(self.file.read_rows(rows, chunk_rows), self.how, self.stats)


def ensemble_models(oof_paths: Mapping[str, str], test_paths: Mapping[str, str], targets_path: str,
                    codec_path: str, cells_path: str, folds_path: str, out_oof: str, out_test: str,
                    out_weights: str, out_metrics: str, method: str = "optuna",
                    weights: Mapping[str, float] | None = None, standardize_how: str = "row",
                    fit_on: str = "good_validation", n_trials: int = 100, seed: int = 0,
                    chunk_rows: int = 4096, day_out_paths: Mapping[str, str] | None = None,
                    n_seeds: int = 3) -> dict:
    """Blend the named models of one modality and write the blend, its weights and its metrics.

    ``targets_path`` holds the training target codes, ``codec_path`` their codec; every file is
    read in row blocks: only the weight-fitting cells' rows are held (for the search), and the
    blended OOF and test predictions are written block by block. ``day_out_paths``: each model's
    predictions for the folds' ``day_out`` cells.
    """
    names = list(oof_paths)
    targets = MatrixFile(targets_path)
    # Blocks of about 16 M values: 4,096 rows of codes, ~700 rows of 23,418 exact genes.
    chunk_rows = max(16, min(chunk_rows, (1 << 24) // max(1, targets.shape[1])))
    oof_files = [MatrixFile(oof_paths[n]) for n in names]
    test_files = [MatrixFile(test_paths[n]) for n in names]
    codec, codec_cells, rho = load_codec(codec_path)
    if list(codec_cells) != list(targets.obs_names):
        raise ValueError(f"{codec_path}: cells differ from {targets.path}")
    for f in oof_files + test_files:
        if list(f.var_names) != list(targets.var_names):
            raise ValueError(f"{f.path}: targets differ from {targets.path}")
    for f in oof_files:
        if list(f.obs_names) != list(targets.obs_names):
            raise ValueError(f"{f.path}: cells differ from {targets.path}")
    for f in test_files[1:]:
        if list(f.obs_names) != list(test_files[0].obs_names):
            raise ValueError(f"{f.path}: test cells differ from {test_files[0].path}")
    if method == "fixed":
        fixed = fixed_weights(names, weights)
    train_ids = targets.obs_names
    folds = pd.read_parquet(folds_path).loc[train_ids]
    cells = pd.read_parquet(cells_path).loc[train_ids]
    cells["good_validation"] = folds["good_validation"].to_numpy() if "good_validation" in folds else False
    n = len(train_ids)
    fit_mask = cells["good_validation"].to_numpy(bool) if fit_on == "good_validation" else np.ones(n, bool)
    if not fit_mask.any():
        log.warning("no good-validation cells: weights are fit on all OOF cells")
        fit_mask, fit_on = np.ones(n, bool), "all"
    oofs = [_Standardized(f, standardize_how, chunk_rows) for f in oof_files]
    fit_rows = np.flatnonzero(fit_mask)
    Y_fit = np.asarray(targets.read_rows(fit_rows, chunk_rows), dtype=np.float32)
    P_fit = [o.rows(fit_rows, chunk_rows) for o in oofs]
    rho_fit = rho[fit_rows]
    log.info("weight search on %d of %d OOF cells (%s), %d models", len(fit_rows), n, fit_on, len(names))

    def score(mask: np.ndarray, w: np.ndarray) -> float:  # exact mean per-cell Pearson on fit cells in mask
        return float((row_pearson(Y_fit[mask], blend([p[mask] for p in P_fit], w)) * rho_fit[mask]).mean())

    def fit(mask: np.ndarray, search_seed: int = seed) -> np.ndarray:  # mask over the fit cells
        if method == "optuna":
            return optimize_weights([p[mask] for p in P_fit], Y_fit[mask], n_trials, search_seed, rho=rho_fit[mask])
        if method == "fixed":
            return fixed
        if method == "mean":
            return np.full(len(names), 1.0 / len(names))
        raise ValueError(f"method must be optuna, fixed or mean, not {method!r}")

    w = fit(np.ones(len(fit_rows), bool))
    fit_score = score(np.ones(len(fit_rows), bool), w)
    # Out-of-sample: weights (and the best single model) chosen on half of the fit cells (even or odd
    # folds), scored on the other half; the weight search repeated over seeds.
    even = folds["fold"].to_numpy()[fit_rows] % 2 == 0
    halves = [(a, b) for a, b in ((even, ~even), (~even, even)) if a.any() and b.any()]
    holdout_by_seed = [float(np.mean([score(b, fit(a, seed + i)) for a, b in halves])) if halves else None
                       for i in range(max(1, n_seeds) if method == "optuna" else 1)]
    r_fit = [row_pearson(Y_fit, p) * rho_fit for p in P_fit]
    best_by_half = [int(np.argmax([r[a].mean() for r in r_fit])) for a, _ in halves]
    best_single_holdout = (float(np.mean([r_fit[i][b].mean() for i, (_, b) in zip(best_by_half, halves, strict=True)]))
                           if halves else None)
    day_out = _day_out_scores(day_out_paths, names, targets, folds, fit_rows, fit, standardize_how, rho, chunk_rows)

    # Blended OOF and test, block by block; per-cell Pearson of the blend and of each model.
    r_blend, r_single = np.zeros(n), np.zeros((len(names), n))
    # What the original's whole-matrix standardisation would have scored (on genes: exact targets only).
    r_matrix = np.zeros(n) if standardize_how == "row" and len(names) > 1 and codec.decoder is None else None
    mstats = [matrix_stats(f, chunk_rows) for f in oof_files] if r_matrix is not None else None
    with MatrixWriter(out_oof, targets.var_names) as wo:
        for start, stop, y in targets.iter_chunks(chunk_rows):
            y = np.asarray(y, dtype=np.float32)
            blocks = [o.block(start, stop) for o in oofs]
            b = blend(blocks, w)
            wo.append(b, train_ids[start:stop])
            r_blend[start:stop] = row_pearson(y, b)
            for i, p in enumerate(blocks):
                r_single[i, start:stop] = row_pearson(y, p)
            if r_matrix is not None:  # what the original's whole-matrix standardisation would have scored
                raw = [f.read(start, stop) for f in oof_files]
                r_matrix[start:stop] = row_pearson(y, blend([matrix_standardize(p, s) for p, s in
                                                             zip(raw, mstats, strict=True)], w))
    tests = [_Standardized(f, standardize_how, chunk_rows) for f in test_files]
    test_ids = test_files[0].obs_names
    with MatrixWriter(out_test, targets.var_names) as wt:
        for start in range(0, len(test_ids), chunk_rows):
            stop = min(start + chunk_rows, len(test_ids))
            wt.append(blend([t.block(start, stop) for t in tests], w), test_ids[start:stop])

    in_sample = row_metrics(r_blend * rho, cells)
    singles = {nm: row_metrics(r_single[i] * rho, cells) for i, nm in enumerate(names)}
    for nm in names:
        singles[nm]["cv_pearson_day_out"] = day_out["models"].get(nm)
    weight_map = {nm: float(x) for nm, x in zip(names, w, strict=True)}
    headline = float(np.mean(holdout_by_seed)) if halves else None
    metrics = {
        "cv_pearson_holdout": headline,
        "cv_pearson_holdout_by_seed": holdout_by_seed,
        # The spread of the weight search alone (the halves stay the same).
        "cv_pearson_holdout_sd": float(np.std(holdout_by_seed, ddof=1)) if halves and len(holdout_by_seed) > 1
        else None,
        "best_single_model_holdout": [names[i] for i in best_by_half],
        "best_single_cv_pearson_holdout": best_single_holdout,
        "blend_gain_holdout": headline - best_single_holdout if halves else None,
        "cv_pearson_day_out": day_out["blend"],
        "day_out_weights": day_out["weights"],
        "n_cells": in_sample.pop("n_cells"),
        **{f"{k}_in_sample": v for k, v in in_sample.items()},
        "cv_pearson_fit_cells_in_sample": fit_score,
        "method": method, "standardize": standardize_how, "fit_on": fit_on, "n_fit_cells": int(fit_mask.sum()),
        "weights": weight_map, "zero_weight_models": [nm for nm, x in weight_map.items() if x == 0.0],
        "models": {nm: {k: m[k] for k in ("cv_pearson", "cv_pearson_good_validation", "cv_pearson_day_out") if k in m}
                   for nm, m in singles.items()},
    }
    if r_matrix is not None:
        metrics["cv_pearson_matrix_standardized_in_sample"] = float((r_matrix * rho).mean())
    write_json(weight_map, out_weights)
    write_json(metrics, out_metrics)
    log.info("blend of %s with weights %s: held-out-half CV Pearson %s (sd over %d seeds %s), best single "
             "model chosen the same way %s; day out %s; in-sample %.4f", ", ".join(names),
             {nm: round(x, 3) for nm, x in weight_map.items()}, _fmt(headline), len(holdout_by_seed),
             _fmt(metrics["cv_pearson_holdout_sd"]), _fmt(best_single_holdout), _fmt(day_out["blend"]),
             metrics["cv_pearson_in_sample"])
    return metrics


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def _day_out_scores(paths: Mapping[str, str] | None, names: Sequence[str], targets: MatrixFile, folds: pd.DataFrame,
                    fit_rows: np.ndarray, fit, how: str, rho: np.ndarray, chunk_rows: int) -> dict:
    """Day-out Pearson of each model and of their blend, weights fit on the fit cells of the other days.

    ``fit(mask)`` searches weights on the fit cells in ``mask``; with no fit cell outside the
    day-out day, the blend weighs the models equally (and says so).
    """
    out = {"blend": None, "weights": None, "models": {}}
    rows = np.flatnonzero(folds["day_out"].to_numpy(bool)) if "day_out" in folds else np.zeros(0, int)
    if not paths or not len(rows):
        return out
    files = [MatrixFile(paths[n]) for n in names]
    for f in files:
        if list(f.obs_names) != list(targets.obs_names[rows]) or list(f.var_names) != list(targets.var_names):
            raise ValueError(f"{f.path}: cells or targets differ from the day-out cells of {targets.path}")
    other = ~folds["day_out"].to_numpy(bool)[fit_rows]
    if other.any():
        w, out["weights"] = fit(other), "fit on the fit cells of the other days"
    else:
        w, out["weights"] = np.full(len(names), 1.0 / len(names)), "equal: no fit cell outside the day-out day"
    preds = [_Standardized(f, how, chunk_rows) for f in files]
    r_blend, r_single = np.zeros(len(rows)), np.zeros((len(names), len(rows)))
    for start in range(0, len(rows), chunk_rows):
        stop = min(start + chunk_rows, len(rows))
        y = np.asarray(targets.read_rows(rows[start:stop], chunk_rows), dtype=np.float32)
        blocks = [p.block(start, stop) for p in preds]
        r_blend[start:stop] = row_pearson(y, blend(blocks, w))
        for i, b in enumerate(blocks):
            r_single[i, start:stop] = row_pearson(y, b)
    out["blend"] = float((r_blend * rho[rows]).mean())
    out["models"] = {nm: float((r_single[i] * rho[rows]).mean()) for i, nm in enumerate(names)}
    return out
