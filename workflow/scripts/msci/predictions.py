"""Own-data outputs: the blend's test predictions as AnnData, and their score where test targets exist.

``predictions.h5ad`` holds, per test cell, the blend decoded to target values: ``X`` in the targets' units
(each cell's predicted level and scale around the blend's shape, :mod:`msci.units`) and
``layers['standardized']`` the blend standardised per cell (mean 0, sd 1 across targets), all that the
per-cell Pearson of the competition sees.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
from anndata.io import read_elem
from scipy.stats import spearmanr

from msci.ensemble import fold_layers
from msci.field_metrics import predict_modality_metrics
from msci.io.artifacts import write_json
from msci.io.matrix import MatrixFile, MatrixWriter, as_dense
from msci.metrics import row_pearson
from msci.target_codes import TargetCodec, load_codec
from msci.units import to_units

log = logging.getLogger(__name__)
SCALE = {"X": "the targets' units: each cell's predicted level and scale around the blend's shape (msci.units)",
         "standardized": "per-cell standardised (each cell's predictions have mean 0 and sd 1 across targets)",
         "fold_sd": "the spread (sd) of the fold models' blends in units, per cell and target"}


def test_levels(levels_path: str, cells) -> np.ndarray:
    """The units rule's predicted level and scale (columns m̂, ŝ) of ``cells``, which must all be there."""
    levels = pd.read_parquet(levels_path)
    pos = levels.index.get_indexer(cells)
    if (pos < 0).any():
        raise ValueError(f"{levels_path}: no level for cell {np.asarray(cells)[pos < 0][0]}")
    return levels[["mean", "sd"]].to_numpy(np.float64)[pos]


def fold_spread(preds: Iterator[np.ndarray]) -> np.ndarray:
    """Per cell and target, the standard deviation (ddof 1) of the fold models' predictions, from running sums of
    their differences from the first (three float32 buffers, however many folds; the shift keeps them precise)."""
    n, shift, total, squares = 0, None, None, None
    for p in preds:
        p = np.asarray(p, np.float32)
        if shift is None:
            shift, total, squares = p.copy(), np.zeros_like(p), np.zeros_like(p)
        else:
            d = p - shift
            total += d
            d *= d
            squares += d
        n += 1
    if n < 2:
        raise ValueError("a spread needs at least two fold models")
    total *= total
    total /= n
    squares -= total
    np.maximum(squares, 0.0, out=squares)
    squares /= n - 1
    return np.sqrt(squares, out=squares)


def units_block(codes: np.ndarray, fold_codes: list[np.ndarray], codec: TargetCodec, level: np.ndarray,
                a: float) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One chunk of blended codes → (values in units, the per-cell standardised profiles, the fold blends' spread
    in units, or ``None`` with fewer than two folds): the one path of in-run test cells and of queries.

    Every fold blend shares the cell's level and scale, so the spread in units is ``a · ŝ`` times the spread
    of the standardised fold blends."""
    z = codec.standardized(codes)
    sd = None
    if len(fold_codes) > 1:
        sd = fold_spread(codec.standardized(f) for f in fold_codes)
        sd *= (a * level[:, 1:]).astype(np.float32)
    return to_units(z, level, a), z, sd


def write_predictions(blend_test: str, codec_path: str, weights_path: str, levels_path: str, units_path: str,
                      out_path: str, config: Mapping[str, Any] | None = None, chunk_rows: int = 2048) -> int:
    """Decode the blend's test rows chunk by chunk and write them as ``.h5ad`` (``X`` in units, the per-cell
    standardised blend as a layer, and the fold models' spread in units as layer ``fold_sd`` and its per-cell
    mean as ``obs['fold_sd_mean']``); return the cell count."""
    blend, (codec, _, _) = MatrixFile(blend_test), load_codec(codec_path)
    if list(codec.code_names) != list(blend.var_names):
        raise ValueError(f"{blend_test}: its columns are not the codes of {codec_path}")
    weights = json.loads(Path(weights_path).read_text())
    units = json.loads(Path(units_path).read_text())
    level = test_levels(levels_path, blend.obs_names)
    uns = {"weights": weights, "scale": SCALE, "units": {k: units[k] for k in ("scale", "a", "oof_rmse")},
           "target_codes": codec.method, "config": json.dumps(config or {}, sort_keys=True)}
    folds = [MatrixFile(blend_test, layer=name) for name in fold_layers([blend])]
    spread = np.zeros(blend.n_rows)
    with MatrixWriter(out_path, codec.target_names, uns=uns) as w:
        for start, stop, codes in blend.iter_chunks(chunk_rows):
            X, z, sd = units_block(np.asarray(codes), [np.asarray(f.read(start, stop)) for f in folds], codec,
                                   level[start:stop], units["a"])
            w.append(X, blend.obs_names[start:stop])
            w.append_layer("standardized", z)
            if sd is not None:
                w.append_layer("fold_sd", sd)
                spread[start:stop] = sd.mean(axis=1)
        if len(folds) > 1:
            w.set_obs(pd.DataFrame({"fold_sd_mean": spread}))
    log.info("predictions: %d test cells × %d targets → %s (units: %s scale, a = %.3f)", blend.n_rows,
             len(codec.target_names), out_path, units["scale"], units["a"])
    return blend.n_rows


def target_mean(level_model: str | Path) -> np.ndarray:
    """Every target's mean over the training cells (kept by the units rule): the baseline that predicts one
    profile for all."""
    with np.load(level_model, allow_pickle=False) as z:
        return z["target_mean"].astype(np.float64)


@dataclass(frozen=True)
class ScoreFiles:
    """One modality's files for scoring: the blend's predictions, the test cells' own targets, the codec, the
    units rule's level model (with the training targets' mean profile, the baseline), levels and metrics, and
    each model's test predictions and metrics."""

    predictions: str
    truth: str
    codec: str
    level_model: str
    levels: str
    units: str
    models: Mapping[str, str]
    model_metrics: Mapping[str, str]


def _positions(f: MatrixFile, cells) -> np.ndarray:
    pos = pd.Index(f.obs_names).get_indexer(cells)
    if (pos < 0).any():
        raise ValueError(f"{f.path}: test cell {np.asarray(cells)[pos < 0][0]} has no prediction")
    return pos


def predictors(files: ScoreFiles, truth: MatrixFile, chunk_rows: int) -> dict[str, Callable[[int, int], np.ndarray]]:
    """Each scored predictor's rows ``start:stop`` of the test cells in units: the blend (its ``X``), each model
    (its decoded test predictions, standardised per cell and put in units as the blend is, with its own CV
    Pearson as the shrinkage where the blend's is shrunk) and the training cells' mean profile."""
    codec = load_codec(files.codec)[0]
    level = test_levels(files.levels, truth.obs_names)
    shrunk = json.loads(Path(files.units).read_text())["scale"] == "shrunk"
    blend = MatrixFile(files.predictions)
    at = _positions(blend, truth.obs_names)
    out = {"blend": lambda a, b: np.asarray(blend.read_rows(at[a:b], chunk_rows), np.float64)}
    for name, path in sorted(files.models.items()):
        f = MatrixFile(path)
        rows = _positions(f, truth.obs_names)
        r = json.loads(Path(files.model_metrics[name]).read_text())["cv_pearson"]
        shrink = float(np.clip(r, 0.0, 1.0)) if shrunk else 1.0

        def model(a, b, f=f, rows=rows, shrink=shrink):
            codes = np.asarray(f.read_rows(rows[a:b], chunk_rows))
            return units_block(codes, [], codec, level[a:b], shrink)[0].astype(np.float64)

        out[name] = model
    mean = target_mean(files.level_model)
    out["baseline_mean_profile"] = lambda a, b: np.broadcast_to(mean, (b - a, len(mean)))
    return out


def _field_scores(truth: MatrixFile, predict: Callable[[int, int], np.ndarray], chunk_rows: int) -> dict:
    def pairs():
        for start, stop, y in truth.iter_chunks(chunk_rows):
            yield as_dense(y, np.float64), predict(start, stop)

    return predict_modality_metrics(pairs, *truth.shape)


def spread_calibration(spread: np.ndarray, err: np.ndarray, n_bins: int = 10) -> dict:
    """Whether each cell's fold spread tracks its error: their Spearman correlation, and the cells cut into
    ``n_bins`` bins of equal size by spread with each bin's mean spread and mean error (a calibration curve)."""
    rho = spearmanr(spread, err).statistic if len(err) > 2 and np.ptp(spread) > 0 and np.ptp(err) > 0 else 0.0
    order = np.argsort(spread, kind="stable")
    bins = [{"fold_sd_mean": float(spread[b].mean()), "rmse": float(err[b].mean()), "n_cells": int(b.size)}
            for b in np.array_split(order, min(n_bins, len(order))) if b.size]
    return {"spearman_per_cell": float(rho), "n_cells": int(len(err)), "bins": bins}


def spread_vs_error(predictions_path: str, truth: MatrixFile, pos: np.ndarray, chunk_rows: int) -> dict | None:
    """Whether the fold models' spread tracks the blend's error on the scored cells (:func:`spread_calibration`
    of each cell's ``fold_sd_mean`` and RMSE in units; ``None`` without fold spreads)."""
    with h5py.File(predictions_path, "r") as h5:
        obs = read_elem(h5["obs"])
    if "fold_sd_mean" not in obs:
        return None
    units, err = MatrixFile(predictions_path), np.zeros(truth.n_rows)
    for start, stop, y in truth.iter_chunks(chunk_rows):
        y = as_dense(y, np.float64)
        err[start:stop] = np.sqrt(((y - units.read_rows(pos[start:stop], chunk_rows)) ** 2).mean(axis=1))
    return spread_calibration(obs["fold_sd_mean"].to_numpy()[pos], err)


def score_predictions(files: Mapping[str, ScoreFiles], out_path: str | None = None, chunk_rows: int = 2048) -> dict:
    """Scores on each modality's test cells against their own targets (which never reached training).

    ``pearson``: the blend's mean per-cell Pearson (the competition's metric, on its standardised layer),
    overall and per annotated cell type, with each model's (``models``) and the mean-profile baseline's beside
    it; ``field_metrics``: openproblems predict_modality's scores (:mod:`msci.field_metrics`) of the blend, each
    model and the baseline, in the targets' units.
    """
    result: dict = {}
    for modality, f in files.items():
        truth, pred = MatrixFile(f.truth), MatrixFile(f.predictions, layer="standardized")
        if list(pred.var_names) != list(truth.var_names):
            raise ValueError(f"{f.truth}: targets differ from {f.predictions}")
        pos = _positions(pred, truth.obs_names)
        r = np.zeros(truth.n_rows)
        for start, stop, y in truth.iter_chunks(chunk_rows):
            y = as_dense(y, np.float32)
            r[start:stop] = row_pearson(y, pred.read_rows(pos[start:stop], chunk_rows))
        entry: dict = {"pearson": float(r.mean()) if r.size else None, "n_cells": int(r.size)}
        if r.size:
            field = {name: _field_scores(truth, p, chunk_rows) for name, p in predictors(f, truth, chunk_rows).items()}
            entry["models"] = {name: field[name]["mean_pearson_per_cell"] for name in sorted(f.models)}
            entry["baseline_mean_profile"] = field["baseline_mean_profile"]["mean_pearson_per_cell"]
            with h5py.File(f.truth, "r") as h5:
                types = read_elem(h5["obs"]).get("cell_type")
            if types is not None:
                by = pd.Series(r).groupby(types.astype(str).to_numpy())
                entry["by_cell_type"] = {str(t): {"pearson": float(g.mean()), "n_cells": int(g.size)} for t, g in by}
            entry["field_metrics"] = {"blend": field.pop("blend"),
                                      "baseline_mean_profile": field.pop("baseline_mean_profile"), "models": field}
            calibration = spread_vs_error(f.predictions, truth, pos, chunk_rows)
            if calibration is not None:
                entry["fold_sd_vs_error"] = calibration
        result[modality] = entry
        log.info("score %s: blend %s over %d test cells; models %s; mean-profile baseline %s; blend RMSE %s",
                 modality, entry["pearson"], r.size, entry.get("models"), entry.get("baseline_mean_profile"),
                 entry.get("field_metrics", {}).get("blend", {}).get("rmse"))
    if out_path:
        write_json(result, out_path)
    return result
