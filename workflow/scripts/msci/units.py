"""Predictions in the targets' units: each cell's level and scale, restored around the blend's per-cell shape.

The blend is a per-cell standardised profile ``z`` (mean 0, sd 1 across targets): the competition's
per-cell Pearson sees nothing else, and compressed Multiome codes do not even keep a cell's mean. A
prediction in units needs each cell's level ``m`` (its targets' mean) and scale ``s`` (their sd), so a ridge
on the cell's features predicts ``m`` and ``log s`` (out of fold for the training cells, from the fold models'
average for the others), and a cell's prediction in units is ``m̂ + a · ŝ · z``.

``a`` is the shrinkage that least squares asks for: with truth ``m + s·t`` (``t`` standardised), the error
``|m + s·t − m̂ − a·ŝ·z|²`` is smallest at ``a ≈ corr(t, z)``, so ``a = 1`` (the full scale) overshoots by as
much as the blend misses. :func:`fit_units` measures both on the training cells' out-of-fold blend, ``a = 1``
and ``a = r̄`` (the blend's mean per-cell Pearson over the *other* folds' cells, so no cell's own error
picks its ``a``), and keeps the one with the smaller out-of-fold RMSE.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from msci.ensemble import row_standardize
from msci.features.table import load_features
from msci.io.artifacts import write_json, write_npz, write_parquet
from msci.io.matrix import MatrixFile, as_dense
from msci.metrics import row_pearson
from msci.split_codecs import SplitCodes, TargetFiles, fold_table, load_split_codes

log = logging.getLogger(__name__)
SCALES = ("full", "shrunk")


def cell_levels(targets: MatrixFile, chunk_rows: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Each training cell's targets' mean and standard deviation, and each target's mean over the training cells
    (the mean-profile baseline a query is scored against), in one chunked pass."""
    out, total = np.zeros((targets.n_rows, 2)), np.zeros(targets.shape[1])
    for start, stop, y in targets.iter_chunks(chunk_rows):
        y = as_dense(y, np.float64)
        out[start:stop] = np.c_[y.mean(axis=1), y.std(axis=1)]
        total += y.sum(axis=0)
    profile = (total / max(targets.n_rows, 1)).astype(np.float32)
    return pd.DataFrame(out, index=targets.obs_names, columns=["mean", "sd"]), profile


def level_model(alpha: float):
    """The ridge that predicts a cell's level and log scale from its standardised features."""
    return make_pipeline(StandardScaler(), Ridge(alpha=alpha))


def _log_sd(sd: np.ndarray) -> np.ndarray:
    positive = sd[sd > 0]
    floor = positive.min() if positive.size else 1.0
    return np.log(np.maximum(sd, floor))


def predict_levels(X: np.ndarray, levels: pd.DataFrame, fold: np.ndarray, X_test: np.ndarray,
                   alpha: float) -> tuple[np.ndarray, np.ndarray, list]:
    """Out-of-fold (training cells; every one is in a fold) and fold-averaged (test cells) level and scale, as
    columns m̂, ŝ; and the fold models."""
    Y = np.c_[levels["mean"].to_numpy(), _log_sd(levels["sd"].to_numpy())]
    oof, test, models = np.zeros_like(Y), np.zeros((len(X_test), 2)), []
    ks = np.unique(fold)
    for k in ks:
        model = level_model(alpha).fit(X[fold != k], Y[fold != k])
        oof[fold == k] = model.predict(X[fold == k])
        test += model.predict(X_test) / len(ks) if len(X_test) else 0
        models.append(model)
    as_units = lambda p: np.c_[p[:, 0], np.exp(p[:, 1])]  # noqa: E731
    return as_units(oof), as_units(test), models


def to_units(z: np.ndarray, level: np.ndarray, a: float) -> np.ndarray:
    """Per-cell standardised profiles ``z`` in units: ``m̂ + a · ŝ · z`` (``level``: columns m̂, ŝ)."""
    out = (a * level[:, 1:]).astype(np.float32) * np.asarray(z, np.float32)
    out += level[:, :1].astype(np.float32)
    return out


@dataclass
class OofFit:
    """Per training cell: |y − m̂|², ⟨y, z⟩ and the blend's Pearson, from which any ``a``'s error follows."""

    resid: np.ndarray
    inner: np.ndarray
    pearson: np.ndarray
    n_targets: int

    def rmse(self, level_sd: np.ndarray, a: np.ndarray) -> float:
        """RMSE over all training cells and targets of ``m̂ + a ŝ z`` (``|z|² = n_targets``)."""
        err = self.resid - 2 * a * level_sd * self.inner + (a * level_sd) ** 2 * self.n_targets
        return float(np.sqrt(max(err.sum(), 0.0) / max(err.size * self.n_targets, 1)))


def oof_fit(targets: MatrixFile, blend_oof: MatrixFile, splits: SplitCodes, level: np.ndarray,
            chunk_rows: int) -> OofFit:
    """Read the training cells' targets and out-of-fold blend once, in chunks, for :meth:`OofFit.rmse`."""
    if list(blend_oof.obs_names) != list(targets.obs_names):
        raise ValueError(f"{blend_oof.path}: rows differ from {targets.path}'s cells")
    n = targets.n_rows
    fit = OofFit(np.zeros(n), np.zeros(n), np.zeros(n), targets.shape[1])
    for start, stop, y in targets.iter_chunks(chunk_rows):
        y = as_dense(y, np.float64)
        z = row_standardize(splits.decode_held_out(start, stop, blend_oof.read(start, stop))).astype(np.float64)
        d = y - level[start:stop, :1]
        fit.resid[start:stop] = np.einsum("ij,ij->i", d, d)
        fit.inner[start:stop] = np.einsum("ij,ij->i", y, z)
        fit.pearson[start:stop] = row_pearson(y, z)
    return fit


def cross_fitted_shrinkage(pearson: np.ndarray, fold: np.ndarray) -> np.ndarray:
    """Per cell: the mean Pearson of the cells outside its fold (no cell's own error sets its ``a``)."""
    a = np.empty(len(pearson))
    for k in np.unique(fold):
        a[fold == k] = pearson[fold != k].mean()
    return np.clip(a, 0.0, 1.0)


def save_level_models(path: str, models: list, feature_names: list[str], target_mean: np.ndarray) -> None:
    """The fold ridges (scaler and coefficients) and the training targets' mean profile as arrays, ``.npz``."""
    write_npz(path, feature_names=np.asarray(feature_names, dtype=str), target_mean=target_mean,
              scaler_mean=np.stack([m[0].mean_ for m in models]), scaler_scale=np.stack([m[0].scale_ for m in models]),
              coef=np.stack([m[1].coef_ for m in models]), intercept=np.stack([m[1].intercept_ for m in models]),
              outputs=np.array(["mean", "log_sd"]))


def fit_units(feature_paths: list[str], targets_path: str, cells_path: str, folds_path: str, blend_oof_path: str,
              target_files: TargetFiles, *, alpha: float, chunk_rows: int, out_levels: str, out_model: str,
              out_metrics: str) -> dict:
    """Fit the level model, measure the full and shrunk scale on the out-of-fold blend, keep the better one.

    Writes the predicted level and scale of every cell (``levels.parquet``: mean, sd, split), the fold
    ridges (``.npz``) and ``metrics.json`` (the chosen scale and ``a``, and the out-of-fold RMSE of each).
    """
    splits = load_split_codes(target_files)
    cells = pd.read_parquet(cells_path)
    fold = fold_table(folds_path, splits.cells)["fold"].to_numpy()
    X = load_features(feature_paths, splits.cells)
    X_test = load_features(feature_paths, cells.index[cells["split"] == "test"].to_numpy())
    targets = MatrixFile(targets_path)
    levels, target_mean = cell_levels(targets, chunk_rows)
    oof, test, models = predict_levels(X.to_numpy(), levels, fold, X_test.to_numpy(), alpha)
    fit = oof_fit(targets, MatrixFile(blend_oof_path), splits, oof, chunk_rows)
    shrink = cross_fitted_shrinkage(fit.pearson, fold)
    rmse = {"full": fit.rmse(oof[:, 1], np.ones(len(shrink))), "shrunk": fit.rmse(oof[:, 1], shrink)}
    scale = min(SCALES, key=lambda s: rmse[s])
    a = float(np.clip(fit.pearson.mean(), 0.0, 1.0)) if scale == "shrunk" else 1.0
    r2 = lambda t, p: float(1 - ((t - p) ** 2).sum() / max(((t - t.mean()) ** 2).sum(), 1e-12))  # noqa: E731
    metrics = {
        "scale": scale, "a": a, "oof_rmse": rmse,
        "oof_r2_level": r2(levels["mean"].to_numpy(), oof[:, 0]),
        "oof_r2_log_sd": r2(_log_sd(levels["sd"].to_numpy()), np.log(oof[:, 1])),
        "oof_blend_pearson": float(fit.pearson.mean()), "alpha": alpha, "n_features": int(X.shape[1]),
    }
    table = pd.DataFrame(np.r_[oof, test], index=np.r_[X.index, X_test.index], columns=["mean", "sd"])
    table["split"] = ["train"] * len(X) + ["test"] * len(X_test)
    write_parquet(table, out_levels)
    save_level_models(out_model, models, list(X.columns), target_mean)
    write_json(metrics, out_metrics)
    log.info("units: scale %s (a = %.3f); out-of-fold RMSE full %.4f, shrunk %.4f; level R² %.3f, log-sd R² %.3f",
             scale, a, rmse["full"], rmse["shrunk"], metrics["oof_r2_level"], metrics["oof_r2_log_sd"])
    return metrics
