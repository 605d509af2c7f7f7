"""Latent semantic indexing (LSI) of ATAC inputs, as scATAC tools reduce them (muon's ``atac.tl.lsi``).

The inputs are TF-IDF values (the competition's Multiome inputs are; own raw counts become TF-IDF
with ``normalize: tfidf``). LSI is a truncated SVD of that matrix, here the chunked randomized one
(sparse stays sparse, never densified), with each component scaled to mean 0 and sd 1 as muon's
``scale_embeddings`` does. The first component of scATAC LSI usually tracks sequencing depth rather
than biology; its correlation with each cell's total signal is measured, and it is dropped when
the correlation's magnitude reaches ``depth_threshold``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from msci.chunked_svd import ChunkedTruncatedSVD, RowSubset
from msci.io.artifacts import write_json, write_parquet
from msci.io.matrix import MatrixFile
from msci.normalize import row_totals

log = logging.getLogger(__name__)


def lsi_features(inputs_path: str, out_path: str, metrics_path: str | None = None, *, n_components: int,
                 depth_threshold: float, n_iter: int, chunk_rows: int, seed: int,
                 fit_mask: np.ndarray | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """LSI table (``lsi_<i>`` columns, components scaled) for all cells; ``metrics_path`` gets the depth check.

    Fit on all cells, or with ``fit_mask`` on those rows and applied to all; scaling statistics come
    from the fit rows. ``n_components`` are kept after the depth component is dropped (one more is fit).
    """
    m = MatrixFile(inputs_path)
    svd = ChunkedTruncatedSVD(n_components + 1, n_iter=n_iter, chunk_rows=chunk_rows, random_state=seed)
    if fit_mask is None:
        z = svd.fit_transform(m)
        fit = np.ones(len(z), bool)
    else:
        fit = np.asarray(fit_mask, bool)
        z = svd.fit(RowSubset(m, fit)).transform(m)
    mean, sd = z[fit].mean(axis=0), z[fit].std(axis=0)
    z = (z - mean) / np.where(sd > 0, sd, 1.0)
    depth = np.concatenate([row_totals(b) for _, _, b in m.iter_chunks(chunk_rows)])
    corr = [float(np.corrcoef(z[fit, j], depth[fit])[0, 1]) if sd[j] > 0 and depth[fit].std() > 0 else 0.0
            for j in range(z.shape[1])]
    drop = abs(corr[0]) >= depth_threshold
    keep = z[:, 1:] if drop else z[:, :-1]
    log.info("LSI: first component's correlation with per-cell totals %.3f: %s", corr[0],
             "dropped" if drop else "kept")
    df = pd.DataFrame(keep.astype(np.float32), index=pd.Index(m.obs_names, name="cell_id"),
                      columns=[f"lsi_{i}" for i in range(keep.shape[1])])
    metrics = {"depth_correlation": corr, "first_component_dropped": bool(drop), "depth_threshold": depth_threshold,
               "n_components": int(keep.shape[1])}
    write_parquet(df, out_path)
    if metrics_path:
        write_json(metrics, metrics_path)
    return df, metrics
