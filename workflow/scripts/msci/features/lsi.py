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
from sklearn.base import BaseEstimator, TransformerMixin

from msci.chunked_svd import ChunkedTruncatedSVD, RowSubset
from msci.features.table import RowChunk
from msci.io.artifacts import write_json, write_parquet
from msci.io.fitted import load_sklearn, save_sklearn
from msci.io.matrix import MatrixFile
from msci.normalize import row_totals

log = logging.getLogger(__name__)


class LsiTransform(TransformerMixin, BaseEstimator):
    """Fitted LSI: the SVD, the fit rows' component means and sds, and whether the depth component is dropped."""

    def __init__(self, svd: ChunkedTruncatedSVD | None = None, mean: np.ndarray | None = None,
                 sd: np.ndarray | None = None, drop_first: bool = False) -> None:
        self.svd = svd
        self.mean = mean
        self.sd = sd
        self.drop_first = drop_first

    def scaled(self, z: np.ndarray) -> np.ndarray:
        """SVD coordinates scaled to the fit rows' mean 0 and sd 1 (all components)."""
        return (z - self.mean) / np.where(self.sd > 0, self.sd, 1.0)

    def keep(self, z: np.ndarray) -> np.ndarray:
        return (z[:, 1:] if self.drop_first else z[:, :-1]).astype(np.float32)

    def transform(self, X) -> np.ndarray:
        return self.keep(self.scaled(self.svd.transform(X)))


def lsi_features(inputs_path: str, out_path: str, metrics_path: str | None = None, *, n_components: int,
                 depth_threshold: float, n_iter: int, chunk_rows: int, seed: int,
                 fit_mask: np.ndarray | None = None,
                 out_fitted: str | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """LSI table (``lsi_<i>`` columns, components scaled) for all cells; ``metrics_path`` gets the depth check.

    Fit on all cells, or with ``fit_mask`` on those rows and applied to all; scaling statistics come
    from the fit rows. ``n_components`` are kept after the depth component is dropped (one more is fit).
    ``out_fitted``: the fitted :class:`LsiTransform` (``.skops``), which applies it to new cells.
    """
    m = MatrixFile(inputs_path)
    svd = ChunkedTruncatedSVD(n_components + 1, n_iter=n_iter, chunk_rows=chunk_rows, random_state=seed)
    if fit_mask is None:
        z = svd.fit_transform(m)
        fit = np.ones(len(z), bool)
    else:
        fit = np.asarray(fit_mask, bool)
        z = svd.fit(RowSubset(m, fit)).transform(m)
    lsi = LsiTransform(svd, z[fit].mean(axis=0), z[fit].std(axis=0))
    z = lsi.scaled(z)
    depth = np.concatenate([row_totals(b) for _, _, b in m.iter_chunks(chunk_rows)])
    corr = [float(np.corrcoef(z[fit, j], depth[fit])[0, 1]) if lsi.sd[j] > 0 and depth[fit].std() > 0 else 0.0
            for j in range(z.shape[1])]
    lsi.drop_first = drop = bool(abs(corr[0]) >= depth_threshold)
    keep = lsi.keep(z)
    log.info("LSI: first component's correlation with per-cell totals %.3f: %s", corr[0],
             "dropped" if drop else "kept")
    df = pd.DataFrame(keep, index=pd.Index(m.obs_names, name="cell_id"),
                      columns=[f"lsi_{i}" for i in range(keep.shape[1])])
    metrics = {"depth_correlation": corr, "first_component_dropped": drop, "depth_threshold": depth_threshold,
               "n_components": int(keep.shape[1])}
    write_parquet(df, out_path)
    if metrics_path:
        write_json(metrics, metrics_path)
    if out_fitted:
        save_sklearn(lsi, out_fitted)
    return df, metrics


class LsiFamily:
    """The fitted ``lsi`` family applied to new cells' input rows (a query)."""

    def __init__(self, path: str) -> None:
        self.lsi = load_sklearn(path)
        self.columns = [f"lsi_{i}" for i in range(len(self.lsi.mean) - 1)]

    def transform(self, chunk: RowChunk) -> np.ndarray:
        return self.lsi.transform(chunk.block)
