"""Latent semantic indexing (LSI) of ATAC inputs, as scATAC tools reduce them (muon's ``atac.tl.lsi``).

The inputs are TF-IDF values (the competition's Multiome inputs are; own raw counts become TF-IDF
with ``normalize: tfidf``). LSI is a truncated SVD of that matrix, here the chunked randomized one
(sparse stays sparse, never densified), with each component scaled to mean 0 and sd 1 as muon's
``scale_embeddings`` does. The first component of scATAC LSI usually tracks sequencing depth rather
than biology; its correlation with each cell's total signal is measured, and it is dropped when
the correlation's magnitude reaches ``depth_threshold``.

The ``bm25`` family is the same LSI on another weighting, the Kaggle 2022 3rd place's: each peak binarised
(accessible or not), weighted by BM25 (:class:`Bm25`: the peak's IDF from the fit cells, damped by the cell's
number of accessible peaks against the fit cells' mean), then reduced as above.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from msci.chunked_svd import ChunkedTruncatedSVD, RowSubset
from msci.features.table import RowChunk
from msci.io.artifacts import write_json, write_parquet
from msci.io.fitted import load_sklearn, save_sklearn
from msci.io.matrix import MatrixFile
from msci.normalize import row_totals

log = logging.getLogger(__name__)


class Bm25(TransformerMixin, BaseEstimator):
    """BM25 weights of binarised rows: ``idf[peak] × (k1 + 1) / (1 + k1 (1 − b + b · n_open / mean n_open))``."""

    def __init__(self, k1: float = 1.2, b: float = 0.75, chunk_rows: int = 4096) -> None:
        self.k1 = k1
        self.b = b
        self.chunk_rows = chunk_rows

    def fit(self, X, y=None) -> Bm25:
        """Each peak's document frequency and the mean open peaks per cell, over ``X``'s chunks (a MatrixFile)."""
        freq, opened, n = np.zeros(X.shape[1]), 0.0, 0
        for _, _, block in X.iter_chunks(self.chunk_rows):
            on = _binary(block)
            freq += np.asarray(on.sum(axis=0)).ravel()
            opened, n = opened + float(on.sum()), n + on.shape[0]
        self.idf_ = np.log1p((n - freq + 0.5) / (freq + 0.5)).astype(np.float32)  # never negative
        self.mean_open_ = max(opened / max(n, 1), 1.0)
        return self

    def transform(self, X) -> sp.csr_matrix:
        on = _binary(X)
        length = np.asarray(on.sum(axis=1)).ravel()
        row = (self.k1 + 1) / (1 + self.k1 * (1 - self.b + self.b * length / self.mean_open_))
        return sp.csr_matrix(sp.diags(row.astype(np.float32)) @ on @ sp.diags(self.idf_))


def _binary(block) -> sp.csr_matrix:
    """A row block's non-zeros as ones (float32 CSR)."""
    on = sp.csr_matrix(block, dtype=np.float32, copy=True)
    on.eliminate_zeros()
    on.data[:] = 1.0
    return on


class Weighted:
    """A matrix's row chunks, each weighted (BM25) on its way to the SVD: never whole in memory."""

    def __init__(self, matrix, weighting: Bm25) -> None:
        self.matrix, self.weighting, self.shape = matrix, weighting, matrix.shape

    def iter_chunks(self, chunk_rows: int = 4096):
        for start, stop, block in self.matrix.iter_chunks(chunk_rows):
            yield start, stop, self.weighting.transform(block)


class LsiTransform(TransformerMixin, BaseEstimator):
    """Fitted LSI: the SVD, the fit rows' component means and sds, whether the depth component is dropped, and the
    weighting applied to the inputs before the SVD (``None``: the inputs as they are)."""

    def __init__(self, svd: ChunkedTruncatedSVD | None = None, mean: np.ndarray | None = None,
                 sd: np.ndarray | None = None, drop_first: bool = False, weighting: Bm25 | None = None) -> None:
        self.svd = svd
        self.mean = mean
        self.sd = sd
        self.drop_first = drop_first
        self.weighting = weighting

    def scaled(self, z: np.ndarray) -> np.ndarray:
        """SVD coordinates scaled to the fit rows' mean 0 and sd 1 (all components)."""
        return (z - self.mean) / np.where(self.sd > 0, self.sd, 1.0)

    def keep(self, z: np.ndarray) -> np.ndarray:
        return (z[:, 1:] if self.drop_first else z[:, :-1]).astype(np.float32)

    def transform(self, X) -> np.ndarray:
        if getattr(self, "weighting", None) is not None:  # absent from LSIs saved before the bm25 family
            X = self.weighting.transform(X)
        return self.keep(self.scaled(self.svd.transform(X)))


def lsi_features(inputs_path: str, out_path: str, metrics_path: str | None = None, *, n_components: int,
                 depth_threshold: float, n_iter: int, chunk_rows: int, seed: int,
                 fit_mask: np.ndarray | None = None, out_fitted: str | None = None,
                 bm25: dict[str, float] | None = None, prefix: str = "lsi") -> tuple[pd.DataFrame, dict[str, Any]]:
    """LSI table (``<prefix>_<i>`` columns, components scaled) for all cells; ``metrics_path`` gets the depth check.

    Fit on all cells, or with ``fit_mask`` on those rows and applied to all; scaling statistics come
    from the fit rows. ``n_components`` are kept after the depth component is dropped (one more is fit).
    ``bm25``: ``{k1, b}`` to weight the binarised inputs by BM25 first (its IDF from the fit rows).
    ``out_fitted``: the fitted :class:`LsiTransform` (``.skops``), which applies it to new cells.
    """
    m = MatrixFile(inputs_path)
    fit = np.ones(m.shape[0], bool) if fit_mask is None else np.asarray(fit_mask, bool)
    fit_rows = m if fit_mask is None else RowSubset(m, fit)
    weighting = None if bm25 is None else Bm25(**bm25, chunk_rows=chunk_rows).fit(fit_rows)
    source, fit_rows = (m, fit_rows) if weighting is None else (Weighted(m, weighting), Weighted(fit_rows, weighting))
    svd = ChunkedTruncatedSVD(n_components + 1, n_iter=n_iter, chunk_rows=chunk_rows, random_state=seed)
    z = svd.fit_transform(source) if fit_mask is None else svd.fit(fit_rows).transform(source)
    lsi = LsiTransform(svd, z[fit].mean(axis=0), z[fit].std(axis=0), weighting=weighting)
    z = lsi.scaled(z)
    depth = np.concatenate([row_totals(b) for _, _, b in m.iter_chunks(chunk_rows)])
    corr = [float(np.corrcoef(z[fit, j], depth[fit])[0, 1]) if lsi.sd[j] > 0 and depth[fit].std() > 0 else 0.0
            for j in range(z.shape[1])]
    lsi.drop_first = drop = bool(abs(corr[0]) >= depth_threshold)
    keep = lsi.keep(z)
    log.info("LSI: first component's correlation with per-cell totals %.3f: %s", corr[0],
             "dropped" if drop else "kept")
    df = pd.DataFrame(keep, index=pd.Index(m.obs_names, name="cell_id"),
                      columns=[f"{prefix}_{i}" for i in range(keep.shape[1])])
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

    def __init__(self, path: str, prefix: str = "lsi") -> None:
        self.lsi = load_sklearn(path)
        self.columns = [f"{prefix}_{i}" for i in range(len(self.lsi.mean) - 1)]

    def transform(self, chunk: RowChunk) -> np.ndarray:
        return self.lsi.transform(chunk.block)
