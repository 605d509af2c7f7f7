"""Count normalisation of users' own data, one row chunk at a time (sparse stays sparse).

* ``log1p_cp10k`` (RNA, ADT counts): each cell scaled to 10,000 total counts, then ``log1p`` —
  scanpy's ``normalize_total(target_sum=1e4)`` + ``log1p``.
* ``clr`` (ADT counts): Seurat's centred log-ratio across the features of each cell
  (``NormalizeData(method = "CLR", margin = 2)``): ``log1p(x / exp(mean(log1p(x))))``, the mean over
  all of the cell's features, zeros included.
* ``tfidf`` (ATAC counts): muon's ``atac.pp.tfidf`` defaults — term frequency ``log1p(1e4 · x / cell
  total)`` times inverse document frequency ``log1p(n_cells / peak total)``. The peak totals need a
  first pass over the cells (:class:`TfIdf`); the same IDF then serves training and test cells.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

METHODS = ("none", "log1p_cp10k", "clr", "tfidf")
SCALE = 1e4


def _scale_rows(block, factors: np.ndarray):
    if sp.issparse(block):
        return sp.csr_matrix(sp.diags(factors.astype(np.float32)) @ block, dtype=np.float32)
    return np.asarray(block, dtype=np.float32) * factors[:, None].astype(np.float32)


def _log1p(block):
    if sp.issparse(block):
        block = sp.csr_matrix(block, dtype=np.float32, copy=True)
        np.log1p(block.data, out=block.data)
        return block
    return np.log1p(block)


def row_totals(block) -> np.ndarray:
    return np.asarray(block.sum(axis=1), dtype=np.float64).ravel()


def counts_per_10k(block):
    """Rows scaled to 1e4 total (all-zero rows stay zero), then ``log1p``."""
    totals = row_totals(block)
    factors = np.divide(SCALE, totals, out=np.zeros_like(totals), where=totals > 0)
    return _log1p(_scale_rows(block, factors))


def clr(block):
    """Seurat's CLR per cell: each row divided by the exponential of its mean ``log1p``, then ``log1p``.

    Zeros stay zero (sparse stays sparse); an all-zero row stays zero.
    """
    if sp.issparse(block):
        logs = sp.csr_matrix(block, dtype=np.float64, copy=True)
        np.log1p(logs.data, out=logs.data)
        mean_log = np.asarray(logs.sum(axis=1), dtype=np.float64).ravel() / block.shape[1]
    else:
        mean_log = np.log1p(np.asarray(block, dtype=np.float64)).mean(axis=1)
    return _log1p(_scale_rows(block, np.exp(-mean_log)))


class TfIdf:
    """TF-IDF of ATAC counts, fit on peak totals accumulated chunk by chunk (``partial_fit``)."""

    def __init__(self) -> None:
        self.col_totals_: np.ndarray | None = None
        self.n_cells_ = 0

    def partial_fit(self, block) -> TfIdf:
        totals = np.asarray(block.sum(axis=0), dtype=np.float64).ravel()
        self.col_totals_ = totals if self.col_totals_ is None else self.col_totals_ + totals
        self.n_cells_ += block.shape[0]
        return self

    @property
    def idf_(self) -> np.ndarray:
        if self.col_totals_ is None:
            raise ValueError("TfIdf is not fitted")
        t = self.col_totals_
        return np.log1p(np.divide(self.n_cells_, t, out=np.zeros_like(t), where=t > 0)).astype(np.float32)

    def transform(self, block):
        tf = counts_per_10k(block)
        idf = self.idf_
        if sp.issparse(tf):
            return sp.csr_matrix(tf @ sp.diags(idf), dtype=np.float32)
        return tf * idf[None, :]


def normalize_block(block, method: str, tfidf: TfIdf | None = None):
    """One chunk normalised by ``method`` (``tfidf`` needs the fitted :class:`TfIdf`)."""
    if method == "none":
        return block
    if method == "log1p_cp10k":
        return counts_per_10k(block)
    if method == "clr":
        return clr(block)
    if method == "tfidf":
        if tfidf is None:
            raise ValueError("tfidf normalisation needs a fitted TfIdf")
        return tfidf.transform(block)
    raise ValueError(f"unknown normalisation {method!r}; choose one of {', '.join(METHODS)}")
