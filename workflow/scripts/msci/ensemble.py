"""Blend models' predictions of one modality after per-cell standardisation.

The metric is a Pearson correlation per cell, so each model's prediction rows are centred and
scaled to unit variance before weighting: the blend then weighs each model's *shape* of a cell's
profile, not its scale.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from msci.cv import cv_metrics
from msci.io.artifacts import write_json
from msci.io.matrix import MatrixFile, write_matrix

log = logging.getLogger("msci")


def row_standardize(pred: np.ndarray) -> np.ndarray:
    """Each row centred and scaled to unit standard deviation (constant rows become zeros)."""
    pred = np.asarray(pred, dtype=np.float32)
    centred = pred - pred.mean(axis=1, keepdims=True)
    sd = centred.std(axis=1, keepdims=True)
    return np.divide(centred, sd, out=np.zeros_like(centred), where=sd > 0)


def blend(preds: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Weighted sum of row-standardised predictions (weights normalised to sum 1)."""
    w = np.asarray(weights, dtype=np.float64)
    if len(w) != len(preds) or (w < 0).any() or w.sum() <= 0:
        raise ValueError("need one non-negative weight per prediction, not all zero")
    w = w / w.sum()
    out = np.zeros(preds[0].shape, dtype=np.float32)
    for p, wi in zip(preds, w, strict=True):
        if wi > 0:
            out += np.float32(wi) * row_standardize(p)
    return out


def ensemble_models(oof_paths: Mapping[str, str], test_paths: Mapping[str, str], targets_path: str,
                    cells_path: str, out_oof: str, out_test: str, out_weights: str, out_metrics: str,
                    weights: Mapping[str, float] | None = None) -> dict:
    """Blend the named models (equal weights unless given) and write the blend with its metrics."""
    names = list(oof_paths)
    w = [float((weights or {}).get(n, 1.0)) for n in names]
    oof_files = [MatrixFile(oof_paths[n]) for n in names]
    test_files = [MatrixFile(test_paths[n]) for n in names]
    targets = MatrixFile(targets_path)
    for f in oof_files + test_files:
        if list(f.var_names) != list(targets.var_names):
            raise ValueError(f"{f.path}: targets differ from {targets.path}")
    oof = blend([f.read() for f in oof_files], w)
    test = blend([f.read() for f in test_files], w)
    cells = pd.read_parquet(cells_path).loc[oof_files[0].obs_names]
    metrics = cv_metrics(np.asarray(targets.read()), oof, cells)
    metrics["weights"] = dict(zip(names, np.asarray(w) / sum(w), strict=True))
    write_matrix(out_oof, oof, oof_files[0].obs_names, targets.var_names)
    write_matrix(out_test, test, test_files[0].obs_names, targets.var_names)
    write_json(metrics["weights"], out_weights)
    write_json(metrics, out_metrics)
    log.info("blend of %s: CV Pearson %.4f", ", ".join(names), metrics["cv_pearson"])
    return metrics
