"""Truncated SVD / PCA in bounded memory: randomized range finding over row chunks.

Halko et al.'s randomized SVD needs only products ``A @ M`` and ``A.T @ M``; both are sums over
row chunks, so a matrix on disk (dense or CSR) is reduced without ever being loaded whole. Peak
memory is one chunk plus ``n_rows × (n_components + n_oversamples)`` floats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin

from msci.io.artifacts import write_parquet
from msci.io.matrix import MatrixFile

Chunks = Callable[[], Iterable[np.ndarray | sp.csr_matrix]]


def _chunk_source(X, chunk_rows: int) -> tuple[Chunks, int, int]:
    """A re-iterable of row chunks for an array, a sparse matrix or a :class:`MatrixFile`."""
    if isinstance(X, MatrixFile):
        return (lambda: (b for _, _, b in X.iter_chunks(chunk_rows))), X.shape[0], X.shape[1]
    if not sp.issparse(X):
        X = np.asarray(X)
    elif not sp.isspmatrix_csr(X):
        X = sp.csr_matrix(X)
    n = X.shape[0]
    return (lambda: (X[i: i + chunk_rows] for i in range(0, n, chunk_rows))), n, X.shape[1]


def _dot(block, m: np.ndarray) -> np.ndarray:
    return np.asarray(block @ m, dtype=np.float64)


class ChunkedTruncatedSVD(TransformerMixin, BaseEstimator):
    """Randomized truncated SVD of a matrix read in row chunks (PCA when ``center=True``).

    Parameters follow scikit-learn's ``TruncatedSVD``; ``X`` may be an array, a sparse matrix or
    a :class:`~msci.io.matrix.MatrixFile` on disk. Centring is implicit (sparse stays sparse).
    """

    def __init__(self, n_components: int = 64, n_oversamples: int = 10, n_iter: int = 4,
                 center: bool = False, chunk_rows: int = 4096, random_state: int | None = 0) -> None:
        self.n_components = n_components
        self.n_oversamples = n_oversamples
        self.n_iter = n_iter
        self.center = center
        self.chunk_rows = chunk_rows
        self.random_state = random_state

    def _products(self, chunks: Chunks, n: int, mean: np.ndarray | None):
        def a_dot(m: np.ndarray) -> np.ndarray:  # (A - 1 μᵀ) @ m
            out = np.concatenate([_dot(b, m) for b in chunks()])
            return out - mean @ m if mean is not None else out

        def at_dot(q: np.ndarray) -> np.ndarray:  # (A - 1 μᵀ)ᵀ @ q
            acc, start = None, 0
            for b in chunks():
                part = np.asarray(b.T @ q[start: start + b.shape[0]], dtype=np.float64)
                acc = part if acc is None else acc + part
                start += b.shape[0]
            return acc - np.outer(mean, q.sum(axis=0)) if mean is not None else acc

        return a_dot, at_dot

    def fit_transform(self, X, y=None) -> np.ndarray:
        chunks, n, p = _chunk_source(X, self.chunk_rows)
        k = min(self.n_components, n, p)
        if k < 1:
            raise ValueError("need at least one row and one column")
        mean = None
        if self.center:
            mean = np.zeros(p)
            for b in chunks():
                mean += np.asarray(b.sum(axis=0), dtype=np.float64).ravel()
            mean /= n
        a_dot, at_dot = self._products(chunks, n, mean)
        rng = np.random.default_rng(self.random_state)
        width = min(k + self.n_oversamples, n, p)
        q, _ = np.linalg.qr(a_dot(rng.standard_normal((p, width))))
        for _ in range(self.n_iter):
            z, _ = np.linalg.qr(at_dot(q))
            q, _ = np.linalg.qr(a_dot(z))
        b = at_dot(q).T  # (width × p) = Qᵀ A
        u_b, s, vt = np.linalg.svd(b, full_matrices=False)
        # Sign convention of scikit-learn (svd_flip on V): deterministic output across runs.
        signs = np.sign(vt[np.arange(vt.shape[0]), np.abs(vt).argmax(axis=1)])
        signs[signs == 0] = 1
        u_b, vt = u_b * signs, vt * signs[:, None]
        self.components_ = vt[:k]
        self.singular_values_ = s[:k]
        self.mean_ = mean
        self.n_features_in_ = p
        total_var = None
        if mean is not None:
            sq = sum(float(np.asarray(bk.multiply(bk).sum() if sp.issparse(bk) else (bk.astype(np.float64) ** 2).sum()))
                     for bk in chunks())
            total_var = sq - n * float(mean @ mean)
        self.explained_variance_ratio_ = (s[:k] ** 2 / total_var) if total_var else None
        return (q @ u_b[:, :k]) * s[:k]

    def fit(self, X, y=None) -> ChunkedTruncatedSVD:
        self.fit_transform(X)
        return self

    def transform(self, X) -> np.ndarray:
        chunks, _, _ = _chunk_source(X, self.chunk_rows)
        out = np.concatenate([_dot(b, self.components_.T) for b in chunks()])
        return out - self.mean_ @ self.components_.T if self.mean_ is not None else out


def svd_features(inputs_path: str, out_path: str, n_components: int = 64, center: bool = False,
                 n_iter: int = 4, chunk_rows: int = 4096, seed: int = 0, prefix: str = "svd") -> pd.DataFrame:
    """Reduce the ingested inputs (train + test cells) to ``n_components`` columns, written as parquet."""
    m = MatrixFile(inputs_path)
    svd = ChunkedTruncatedSVD(n_components, n_iter=n_iter, center=center, chunk_rows=chunk_rows, random_state=seed)
    z = svd.fit_transform(m).astype(np.float32)
    df = pd.DataFrame(z, index=pd.Index(m.obs_names, name="cell_id"),
                      columns=[f"{prefix}_{i}" for i in range(z.shape[1])])
    write_parquet(df, out_path)
    return df
