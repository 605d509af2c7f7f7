"""Train one configured model on one modality: features + folds → OOF, test predictions, metrics."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from msci.cv import cross_validate, cv_metrics, fit_held_out, stopping_overstatement
from msci.features.table import load_features
from msci.io.artifacts import write_json
from msci.io.matrix import MatrixFile, write_matrix
from msci.models.registry import make_model
from msci.target_codes import load_codec

log = logging.getLogger(__name__)


def load_codes(codes_path: str, codec_path: str) -> tuple[MatrixFile, np.ndarray, np.ndarray]:
    """Training target codes (file), their values (cells × codes) and each cell's ρ, aligned."""
    codes = MatrixFile(codes_path)
    _, cells, rho = load_codec(codec_path)
    if list(cells) != list(codes.obs_names):
        raise ValueError(f"{codec_path}: cells differ from {codes_path}")
    return codes, np.asarray(codes.read(), dtype=np.float32), rho


def train_model(model_type: str, params: dict[str, Any], feature_paths: Sequence[str], targets_path: str,
                codec_path: str, cells_path: str, folds_path: str, out_oof: str, out_test: str, out_metrics: str,
                out_day_out: str | None = None, seed: int = 0, threads: int | None = None,
                pretrainer: str | None = None, stop_fraction: float = 0.1) -> dict[str, Any]:
    """Cross-validate ``model_type`` and write OOF and test predictions (h5ad) and ``metrics.json``.

    ``targets_path`` holds the training target codes and ``codec_path`` their codec
    (:mod:`msci.target_codes`): models predict codes, which are what the prediction files hold.
    Scores are exact per-cell Pearson on the targets. ``pretrainer``: a saved unsupervised TabNet
    encoder every fold starts from. Early-stopping models stop on ``stop_fraction`` of each fold's
    training cells. ``out_day_out``: predictions for the folds' ``day_out`` cells by one more model
    trained on the earlier days (no rows where there is a single training day).
    """
    if pretrainer:
        params = {**params, "pretrainer_path": pretrainer}
    cells = pd.read_parquet(cells_path)
    folds = pd.read_parquet(folds_path)
    targets, Y, rho = load_codes(targets_path, codec_path)
    train_ids = targets.obs_names
    test_ids = cells.index[cells["split"] == "test"].to_numpy()
    pos = folds.index.get_indexer(train_ids)
    if (pos < 0).any():
        raise ValueError(f"{folds_path}: {(pos < 0).sum()} training cells have no fold")
    fold = folds["fold"].to_numpy()[pos]
    X = load_features(feature_paths, train_ids)
    X_test = load_features(feature_paths, test_ids)
    log.info("%s: %d train × %d features → %d target codes; %d test cells; %d folds", model_type, *X.shape, Y.shape[1],
             len(test_ids), len(np.unique(fold)))

    def make(k: int):
        return make_model(model_type, params, seed=seed + k, threads=threads)

    good = folds["good_validation"].to_numpy(bool)[pos] if "good_validation" in folds else None
    X_train = X.to_numpy()
    result = cross_validate(make, X_train, Y, fold, X_test.to_numpy(), rho=rho, stop_labels=good,
                            stop_fraction=stop_fraction, seed=seed)
    train_cells = cells.loc[train_ids].copy()
    if good is not None:
        train_cells["good_validation"] = good
    metrics = cv_metrics(Y, result.oof, train_cells, rho=rho)
    over = stopping_overstatement(result)
    if over:
        metrics.update(over, stop_fraction=stop_fraction)
        log.info("%s: epoch chosen on %.0f %% of each fold's training cells; choosing it on the scored fold "
                 "would have reported %.4f (+%.4f)", model_type, 100 * stop_fraction,
                 over["cv_pearson_if_stopped_on_scored_fold"], over["early_stopping_overstatement"])
    day_out = folds["day_out"].to_numpy(bool)[pos] if "day_out" in folds else np.zeros(len(pos), bool)
    held = None
    if day_out.any():
        day = train_cells["day"].to_numpy()[day_out][0]
        log.info("day out: trained on %d cells of the earlier days, scored on %d cells of day %s",
                 (~day_out).sum(), day_out.sum(), day)
        held = fit_held_out(make(len(np.unique(fold))), X_train, Y, np.flatnonzero(~day_out), np.flatnonzero(day_out),
                            rho, good, stop_fraction, seed + len(np.unique(fold)))
        metrics.update(cv_pearson_day_out=held.score, day_out={"day": str(day), **held.info})
        log.info("%s: day-out Pearson %.4f", model_type, held.score)
    else:
        metrics["cv_pearson_day_out"] = None
    metrics.update({
        "model_type": model_type,
        "params": {k: v for k, v in params.items() if k != "pretrainer_path"},
        "fit_seconds": result.fit_seconds,
        "fold_pearson": result.fold_scores,
        "folds": result.fold_info,
        "n_features": int(X.shape[1]),
    })
    if all("epochs" in f for f in result.fold_info):  # iterative models: rounds/epochs kept per fold
        metrics["epochs"] = [f["epochs"] for f in result.fold_info]
    metrics["device"] = result.fold_info[0].get("device", "cpu")
    write_matrix(out_oof, result.oof, train_ids, targets.var_names)
    write_matrix(out_test, result.test, test_ids, targets.var_names)
    if out_day_out:
        write_matrix(out_day_out, held.pred if held is not None else np.zeros((0, Y.shape[1]), np.float32),
                     train_ids[day_out], targets.var_names)
    write_json(metrics, out_metrics)
    log.info("%s: CV Pearson %.4f", model_type, metrics["cv_pearson"])
    return metrics


