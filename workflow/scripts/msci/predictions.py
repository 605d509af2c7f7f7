"""Own-data outputs: the blend's test predictions as AnnData, and their score where test targets exist.

``predictions.h5ad`` holds, per test cell, the blend decoded to target values and standardised per
cell (mean 0, standard deviation 1 across targets). The metric is a Pearson correlation per cell,
which is blind to each cell's offset and scale, so this is the blend's whole information; it is not
on the targets' units.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
from anndata.io import read_elem

from msci.ensemble import row_standardize
from msci.io.artifacts import write_json
from msci.io.matrix import MatrixFile, MatrixWriter
from msci.metrics import row_pearson
from msci.target_codes import load_codec

log = logging.getLogger(__name__)
SCALE = "per-cell standardised (each cell's predictions have mean 0 and sd 1 across targets)"


def write_predictions(blend_test: str, codec_path: str, weights_path: str, out_path: str,
                      config: Mapping[str, Any] | None = None, chunk_rows: int = 2048) -> int:
    """Decode the blend's test rows chunk by chunk and write them as ``.h5ad``; return the cell count."""
    blend, (codec, _, _) = MatrixFile(blend_test), load_codec(codec_path)
    if list(codec.code_names) != list(blend.var_names):
        raise ValueError(f"{blend_test}: its columns are not the codes of {codec_path}")
    weights = json.loads(Path(weights_path).read_text())
    uns = {"weights": weights, "scale": SCALE, "target_codes": codec.method,
           "config": json.dumps(config or {}, sort_keys=True)}
    with MatrixWriter(out_path, codec.target_names, uns=uns) as w:
        for start, stop, codes in blend.iter_chunks(chunk_rows):
            w.append(row_standardize(codec.decode(np.asarray(codes))), blend.obs_names[start:stop])
    log.info("predictions: %d test cells × %d targets → %s", blend.n_rows, len(codec.target_names), out_path)
    return blend.n_rows


def _mean_profile(targets: MatrixFile, chunk_rows: int) -> np.ndarray:
    """Every target's mean over the training cells: the baseline that predicts one profile for all."""
    total = np.zeros(targets.shape[1])
    for _, _, y in targets.iter_chunks(chunk_rows):
        total += np.asarray(y, np.float64).sum(axis=0)
    return (total / max(targets.n_rows, 1)).astype(np.float32)


def score_predictions(predictions: Mapping[str, str], truths: Mapping[str, str],
                      models: Mapping[str, Mapping[str, str]] | None = None, codecs: Mapping[str, str] | None = None,
                      train_targets: Mapping[str, str] | None = None, out_path: str | None = None,
                      chunk_rows: int = 2048) -> dict:
    """Mean per-cell Pearson on each modality's test cells against their own targets (which never
    reached training): the blend overall and per annotated cell type; each model's own test
    predictions (``models``: name → ``test.h5ad`` of codes, decoded with ``codecs``); and the
    baseline predicting every cell as the training cells' mean profile (``train_targets``)."""
    result: dict = {}
    for modality, truth_path in truths.items():
        pred, truth = MatrixFile(predictions[modality]), MatrixFile(truth_path)
        if list(pred.var_names) != list(truth.var_names):
            raise ValueError(f"{truth_path}: targets differ from {predictions[modality]}")
        pos = pd.Index(pred.obs_names).get_indexer(truth.obs_names)
        if (pos < 0).any():
            raise ValueError(f"{truth_path}: test cell {truth.obs_names[pos < 0][0]} has no prediction")
        members = {name: MatrixFile(p) for name, p in ((models or {}).get(modality) or {}).items()}
        codec = load_codec(codecs[modality])[0] if members else None
        mean = _mean_profile(MatrixFile(train_targets[modality]), chunk_rows) if train_targets else None
        r = np.zeros(truth.n_rows)
        r_models = {name: np.zeros(truth.n_rows) for name in members}
        r_mean = np.zeros(truth.n_rows)
        for start, stop, y in truth.iter_chunks(chunk_rows):
            y = np.asarray(y, np.float32)
            r[start:stop] = row_pearson(y, pred.read_rows(pos[start:stop], chunk_rows))
            for name, f in members.items():
                at = pd.Index(f.obs_names).get_indexer(truth.obs_names[start:stop])
                if (at < 0).any():
                    raise ValueError(f"{f.path}: test cell {truth.obs_names[start:stop][at < 0][0]} has no prediction")
                rows = f.read_rows(at, chunk_rows)
                r_models[name][start:stop] = row_pearson(y, codec.decode(np.asarray(rows)))
            if mean is not None:
                r_mean[start:stop] = row_pearson(y, np.broadcast_to(mean, y.shape))
        with h5py.File(truth_path, "r") as f:
            types = read_elem(f["obs"]).get("cell_type")
        entry: dict = {"pearson": float(r.mean()) if r.size else None, "n_cells": int(r.size)}
        if r.size:
            entry["models"] = {name: float(v.mean()) for name, v in sorted(r_models.items())}
            if mean is not None:
                entry["baseline_mean_profile"] = float(r_mean.mean())
            if types is not None:
                by = pd.Series(r).groupby(types.astype(str).to_numpy())
                entry["by_cell_type"] = {str(t): {"pearson": float(g.mean()), "n_cells": int(g.size)} for t, g in by}
        result[modality] = entry
        log.info("score %s: blend %s over %d test cells; models %s; mean-profile baseline %s", modality,
                 entry["pearson"], r.size, entry.get("models"), entry.get("baseline_mean_profile"))
    if out_path:
        write_json(result, out_path)
    return result
