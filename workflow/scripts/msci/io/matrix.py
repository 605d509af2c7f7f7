"""Cell-by-feature matrices on disk, written and read in row chunks.

The layout is AnnData's ``.h5ad`` (``X`` dense or CSR, ``obs``/``var`` names), so every matrix the
workflow writes (ingested inputs and targets, out-of-fold and test predictions) opens in scanpy
with ``anndata.read_h5ad`` — and, unlike a pickled frame, reads back by row slices in bounded memory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import h5py
import numpy as np
import scipy.sparse as sp

from msci.io.artifacts import atomic_path

_STR = h5py.string_dtype()


def _write_index(group: h5py.Group, names: Sequence[str]) -> None:
    group.attrs.update(
        {
            "encoding-type": "dataframe",
            "encoding-version": "0.2.0",
            "_index": "_index",
            "column-order": np.array([], dtype=_STR),
        }
    )
    ds = group.create_dataset("_index", data=np.asarray(names, dtype=object), dtype=_STR)
    ds.attrs.update({"encoding-type": "string-array", "encoding-version": "0.2.0"})


def _empty_dict(parent: h5py.Group, name: str) -> None:
    g = parent.create_group(name)
    g.attrs.update({"encoding-type": "dict", "encoding-version": "0.1.0"})


def _row_chunk(n_cols: int) -> int:
    """Rows per HDF5 chunk: about 4 MB of float32 per chunk."""
    return int(max(1, min(4096, (1 << 20) // max(n_cols, 1))))


class MatrixWriter:
    """Append row blocks of one matrix to an ``.h5ad`` file; the file appears only on ``close``.

    Use as a context manager. Dense blocks give a dense ``X``; ``sparse=True`` stores CSR
    (blocks may be dense or sparse). Memory stays bounded by one block.
    """

    def __init__(self, path: str | os.PathLike, var_names: Sequence[str], sparse: bool = False,
                 dtype: np.dtype | type = np.float32) -> None:
        self.path = Path(path)
        self.var_names = list(var_names)
        self.sparse = sparse
        self.dtype = np.dtype(dtype)
        self._stack: ExitStack | None = None

    def __enter__(self) -> MatrixWriter:
        self._stack = ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        self._h5 = h5py.File(self._tmp, "w")
        self._h5.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
        p = len(self.var_names)
        self._obs: list[str] = []
        self._nnz = 0
        if self.sparse:
            g = self._h5.create_group("X")
            g.attrs.update({"encoding-type": "csr_matrix", "encoding-version": "0.1.0"})
            g.create_dataset("data", shape=(0,), maxshape=(None,), dtype=self.dtype, chunks=(1 << 18,))
            g.create_dataset("indices", shape=(0,), maxshape=(None,), dtype=np.int32, chunks=(1 << 18,))
            self._indptr = [np.zeros(1, dtype=np.int64)]
        else:
            ds = self._h5.create_dataset("X", shape=(0, p), maxshape=(None, p), dtype=self.dtype,
                                         chunks=(_row_chunk(p), max(p, 1)))
            ds.attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
        return self

    def append(self, block: np.ndarray | sp.spmatrix, obs_names: Sequence[str]) -> None:
        """Append rows ``block`` (n × p) named ``obs_names``."""
        n = block.shape[0]
        if block.shape[1] != len(self.var_names):
            raise ValueError(f"block has {block.shape[1]} columns, expected {len(self.var_names)}")
        if len(obs_names) != n:
            raise ValueError("obs_names and block rows differ in length")
        self._obs.extend(np.asarray(obs_names).astype(str).tolist())
        if self.sparse:
            csr = sp.csr_matrix(block, dtype=self.dtype)
            csr.sort_indices()
            g = self._h5["X"]
            start = self._nnz
            self._nnz += csr.nnz
            g["data"].resize((self._nnz,))
            g["indices"].resize((self._nnz,))
            g["data"][start:] = csr.data
            g["indices"][start:] = csr.indices
            self._indptr.append(csr.indptr[1:].astype(np.int64) + start)
        else:
            ds = self._h5["X"]
            start = ds.shape[0]
            ds.resize((start + n, ds.shape[1]))
            dense = block.toarray() if sp.issparse(block) else np.asarray(block)
            ds[start:] = dense.astype(self.dtype, copy=False)

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self._stack is not None
        try:
            if exc_type is None:
                n = len(self._obs)
                if self.sparse:
                    g = self._h5["X"]
                    g.create_dataset("indptr", data=np.concatenate(self._indptr))
                    g.attrs["shape"] = np.array([n, len(self.var_names)], dtype=np.int64)
                _write_index(self._h5.create_group("obs"), self._obs)
                _write_index(self._h5.create_group("var"), self.var_names)
                for name in ("obsm", "varm", "obsp", "varp", "layers", "uns"):
                    _empty_dict(self._h5, name)
            self._h5.close()
        finally:
            self._stack.__exit__(exc_type, exc, tb)


def write_matrix(path: str | os.PathLike, X: np.ndarray | sp.spmatrix, obs_names: Sequence[str],
                 var_names: Sequence[str]) -> None:
    """Write a whole in-memory matrix (dense stays dense, sparse stays CSR), atomically."""
    with MatrixWriter(path, var_names, sparse=sp.issparse(X)) as w:
        w.append(X, obs_names)


def decode_names(values: np.ndarray) -> np.ndarray:
    """Names read from HDF5 (bytes or str) as an object array of str, vectorised (no loop over cells)."""
    arr = np.asarray(values)
    if arr.dtype == object and arr.size and isinstance(arr.flat[0], bytes):
        arr = arr.astype("S")
    if arr.dtype.kind == "S":
        return np.char.decode(arr, "utf-8").astype(object)
    return arr.astype(str).astype(object)


class MatrixFile:
    """Read access to a matrix written by :class:`MatrixWriter` (or any h5ad with dense/CSR ``X``)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        with h5py.File(self.path, "r") as f:
            x = f["X"]
            self.sparse = isinstance(x, h5py.Group)
            if self.sparse:
                if x.attrs.get("encoding-type") != "csr_matrix":
                    raise ValueError(f"{self.path}: X is {x.attrs.get('encoding-type')}, only CSR is read")
                self.shape = tuple(int(s) for s in x.attrs["shape"])
            else:
                self.shape = tuple(int(s) for s in x.shape)
            self.obs_names = decode_names(f["obs"][f["obs"].attrs.get("_index", "_index")][:])
            self.var_names = decode_names(f["var"][f["var"].attrs.get("_index", "_index")][:])

    @property
    def n_rows(self) -> int:
        return self.shape[0]

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray | sp.csr_matrix:
        """Rows ``start:stop`` (dense ndarray, or CSR for sparse files)."""
        stop = self.shape[0] if stop is None else min(stop, self.shape[0])
        with h5py.File(self.path, "r") as f:
            return self._read(f, start, stop)

    def _read(self, f: h5py.File, start: int, stop: int) -> np.ndarray | sp.csr_matrix:
        if not self.sparse:
            return f["X"][start:stop]
        g = f["X"]
        indptr = g["indptr"][start : stop + 1]
        lo, hi = int(indptr[0]), int(indptr[-1])
        return sp.csr_matrix(
            (g["data"][lo:hi], g["indices"][lo:hi], indptr - lo), shape=(stop - start, self.shape[1])
        )

    def iter_chunks(self, chunk_rows: int = 4096) -> Iterator[tuple[int, int, np.ndarray | sp.csr_matrix]]:
        """Yield ``(start, stop, rows)`` over the whole matrix, one chunk in memory at a time."""
        with h5py.File(self.path, "r") as f:
            for start in range(0, self.shape[0], chunk_rows):
                stop = min(start + chunk_rows, self.shape[0])
                yield start, stop, self._read(f, start, stop)

    def read_rows(self, rows: np.ndarray, chunk_rows: int = 4096) -> np.ndarray | sp.csr_matrix:
        """Rows at positions ``rows`` (any order), read chunk by chunk."""
        rows = np.asarray(rows, dtype=np.int64)
        order = np.argsort(rows, kind="stable")
        parts, got = [], []
        for start, stop, block in self.iter_chunks(chunk_rows):
            sel = rows[order]
            m = (sel >= start) & (sel < stop)
            if m.any():
                parts.append(block[sel[m] - start])
                got.append(order[m])
        if not parts:
            return sp.csr_matrix((0, self.shape[1])) if self.sparse else np.zeros((0, self.shape[1]), np.float32)
        stacked = sp.vstack(parts, format="csr") if self.sparse else np.concatenate(parts)
        inverse = np.empty(len(rows), dtype=np.int64)
        inverse[np.concatenate(got)] = np.arange(len(rows))
        return stacked[inverse]
