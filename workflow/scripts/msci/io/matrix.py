"""Cell-by-feature matrices on disk as AnnData ``.h5ad`` files, written and read in row chunks.

Every matrix the workflow writes (ingested inputs and targets, target codes, out-of-fold and test
predictions) is an ``.h5ad`` encoded by anndata's own element API (``write_elem``, and
``sparse_dataset(...).append`` for chunked CSR), so it opens in scanpy with ``anndata.read_h5ad`` and
reads back by row slices in memory bounded by one chunk. Dense layers (``adata.layers[name]``) are
written row block by row block beside ``X`` and read the same way.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata.io import read_elem, sparse_dataset, write_elem

from msci.io.artifacts import atomic_path

log = logging.getLogger(__name__)
_EMPTY_ELEMENTS = ("obsm", "varm", "obsp", "varp", "layers")


def _row_chunk(n_cols: int) -> int:
    """Rows per HDF5 chunk of a dense ``X``: about 4 MB of float32 per chunk."""
    return int(max(1, min(4096, (1 << 20) // max(n_cols, 1))))


def _names_frame(names: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(index=pd.Index(np.asarray(names, dtype=object).astype(str), dtype=object))


def as_dense(block, dtype: np.dtype | type = np.float64) -> np.ndarray:
    """A row block read from a dense or sparse matrix, as a dense array of ``dtype``."""
    return np.asarray(block.toarray() if sp.issparse(block) else block, dtype=dtype)


class MatrixWriter:
    """Append row blocks of one matrix to an ``.h5ad`` file; the file appears only on ``close``.

    Use as a context manager. Dense blocks give a dense ``X``; ``sparse=True`` stores CSR (blocks may
    be dense or sparse; a 64-bit ``indptr``, so any number of non-zeros fits). ``obs`` columns and
    ``uns`` entries given to :meth:`set_obs` / the constructor are written at close. Dense layers are
    appended with :meth:`append_layer` (same rows as ``X``, checked at close). Memory stays bounded by one block.
    """

    def __init__(self, path: str | os.PathLike, var_names: Sequence[str], sparse: bool = False,
                 dtype: np.dtype | type = np.float32, uns: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.var_names = list(var_names)
        self.sparse = sparse
        self.dtype = np.dtype(dtype)
        self.uns = dict(uns or {})
        self._stack: ExitStack | None = None

    def __enter__(self) -> MatrixWriter:
        self._stack = ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        self._h5 = h5py.File(self._tmp, "w")
        self._obs: list[np.ndarray] = []
        self._obs_columns: pd.DataFrame | None = None
        self._layers: dict[str, h5py.Dataset] = {}
        p = len(self.var_names)
        if self.sparse:
            write_elem(self._h5, "X", sp.csr_matrix((0, p), dtype=self.dtype), dataset_kwargs={"chunks": (1 << 18,)})
            # anndata writes a 32-bit indptr for an empty matrix; a 64-bit one lets appends pass 2**31 values.
            del self._h5["X/indptr"]
            self._h5["X"].create_dataset("indptr", data=np.zeros(1, np.int64), maxshape=(None,), chunks=(1 << 16,))
            self._X = sparse_dataset(self._h5["X"])
        else:
            _dense_element(self._h5, "X", p, self.dtype)
        return self

    def append(self, block: np.ndarray | sp.spmatrix, obs_names: Sequence[str]) -> None:
        """Append rows ``block`` (n × p) named ``obs_names``."""
        n = block.shape[0]
        if block.shape[1] != len(self.var_names):
            raise ValueError(f"block has {block.shape[1]} columns, expected {len(self.var_names)}")
        if len(obs_names) != n:
            raise ValueError("obs_names and block rows differ in length")
        self._obs.append(np.asarray(obs_names, dtype=object))
        if self.sparse:
            csr = sp.csr_matrix(block, dtype=self.dtype)
            csr.sort_indices()
            self._X.append(csr)
        else:
            dense = block.toarray() if sp.issparse(block) else np.asarray(block)
            _append_rows(self._h5["X"], dense.astype(self.dtype, copy=False))

    def append_layer(self, name: str, block: np.ndarray) -> None:
        """Append dense rows ``block`` to layer ``name`` (its rows are the cells of ``X``, in the same order)."""
        if block.shape[1] != len(self.var_names):
            raise ValueError(f"layer {name}: block has {block.shape[1]} columns, expected {len(self.var_names)}")
        if name not in self._layers:
            if not self._layers:
                write_elem(self._h5, "layers", {})
            self._layers[name] = _dense_element(self._h5["layers"], name, len(self.var_names), self.dtype)
        _append_rows(self._layers[name], np.asarray(block).astype(self.dtype, copy=False))

    def set_obs(self, columns: pd.DataFrame) -> None:
        """Per-cell annotation columns (rows in the order cells were appended) written to ``obs``."""
        self._obs_columns = columns

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self._stack is not None
        try:
            if exc_type is None:
                self._finish()
        except BaseException as err:  # a file that fails to finish is not left behind either
            self._h5.close()
            self._stack.__exit__(type(err), err, err.__traceback__)
            raise
        self._h5.close()
        self._stack.__exit__(exc_type, exc, tb)

    def _finish(self) -> None:
        """Write obs, var, uns and the empty elements; refuse obs columns or layers whose rows differ from X's."""
        obs = _names_frame(np.concatenate(self._obs) if self._obs else [])
        if self._obs_columns is not None:
            if len(self._obs_columns) != len(obs):
                raise ValueError(f"obs has {len(self._obs_columns)} rows, the matrix {len(obs)}")
            for c in self._obs_columns.columns:
                obs[c] = self._obs_columns[c].to_numpy()
        for name, layer in self._layers.items():
            if layer.shape[0] != len(obs):
                raise ValueError(f"layer {name} has {layer.shape[0]} rows, X {len(obs)}")
        write_elem(self._h5, "obs", obs)
        write_elem(self._h5, "var", _names_frame(self.var_names))
        for name in _EMPTY_ELEMENTS:
            if name not in self._h5:
                write_elem(self._h5, name, {})
        write_elem(self._h5, "uns", self.uns)
        self._h5.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})


def _dense_element(group: h5py.Group, name: str, n_cols: int, dtype: np.dtype) -> h5py.Dataset:
    """An empty, row-resizable dense array element ``group[name]`` in anndata's encoding."""
    write_elem(group, name, np.zeros((0, n_cols), dtype=dtype),
               dataset_kwargs={"maxshape": (None, n_cols), "chunks": (_row_chunk(n_cols), max(n_cols, 1))})
    return group[name]


def _append_rows(ds: h5py.Dataset, block: np.ndarray) -> None:
    """Rows appended to a resizable dense dataset."""
    start = ds.shape[0]
    ds.resize((start + block.shape[0], ds.shape[1]))
    ds[start:] = block


def write_matrix(path: str | os.PathLike, X: np.ndarray | sp.spmatrix, obs_names: Sequence[str],
                 var_names: Sequence[str], uns: Mapping[str, Any] | None = None) -> None:
    """Write a whole in-memory matrix (dense stays dense, sparse stays CSR), atomically."""
    with MatrixWriter(path, var_names, sparse=sp.issparse(X), uns=uns) as w:
        w.append(X, obs_names)


def decode_names(values: np.ndarray) -> np.ndarray:
    """Names read from HDF5 (bytes or str) as an object array of str, vectorised (no loop over cells)."""
    arr = np.asarray(values)
    if arr.dtype == object and arr.size and isinstance(arr.flat[0], bytes):
        arr = arr.astype("S")
    if arr.dtype.kind == "S":
        return np.char.decode(arr, "utf-8").astype(object)
    return arr.astype(str).astype(object)


def frame_index(group: h5py.Group) -> np.ndarray:
    """The index (``obs_names``/``var_names``) of an AnnData dataframe element, without its columns."""
    return decode_names(read_elem(group[group.attrs.get("_index", "_index")]))


class ElementRows:
    """Row-chunk reads of one AnnData matrix element (``X`` or a layer): dense, or sparse via
    anndata's ``sparse_dataset`` (CSR read by row slices; CSC is read whole, as it has no cheap rows)."""

    def __init__(self, elem: h5py.Dataset | h5py.Group) -> None:
        if isinstance(elem, h5py.Group):
            self._sparse = sparse_dataset(elem)
            self.format = self._sparse.format
            self.shape = tuple(int(s) for s in self._sparse.shape)
            self._whole = None
        else:
            self._dense = elem
            self.format = "dense"
            self.shape = tuple(int(s) for s in elem.shape)

    @property
    def sparse(self) -> bool:
        return self.format != "dense"

    def read(self, start: int, stop: int) -> np.ndarray | sp.csr_matrix:
        if self.format == "dense":
            return self._dense[start:stop]
        if self.format == "csr":
            return sp.csr_matrix(self._sparse[start:stop])
        return self._in_memory()[start:stop]

    def _in_memory(self) -> sp.csr_matrix:
        if self._whole is None:
            g = self._sparse.group
            size = sum(g[k].size * g[k].dtype.itemsize for k in ("data", "indices", "indptr"))
            log.warning("%s%s is CSC, which has no row slices: read whole (%.2f GB) and converted to CSR; "
                        "store it as CSR (adata.X = adata.X.tocsr()) to read it by row chunks",
                        g.file.filename, g.name, size / 1e9)
            self._whole = sp.csr_matrix(self._sparse.to_memory())
        return self._whole


class MatrixFile:
    """Read access to a matrix written by :class:`MatrixWriter` (or any h5ad with dense/sparse ``X``).

    ``layer``: read ``layers/<layer>`` instead of ``X`` (same cells and names).
    """

    def __init__(self, path: str | os.PathLike, layer: str | None = None) -> None:
        self.path = Path(path)
        self.element = f"layers/{layer}" if layer else "X"
        with h5py.File(self.path, "r") as f:
            if self.element not in f:
                raise ValueError(f"{self.path}: no {self.element}")
            x = ElementRows(f[self.element])
            self.sparse, self.shape = x.sparse, x.shape
            self.obs_names = frame_index(f["obs"])
            self.var_names = frame_index(f["var"])
            self.layer_names = sorted(f["layers"].keys()) if "layers" in f else []

    @property
    def n_rows(self) -> int:
        return self.shape[0]

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray | sp.csr_matrix:
        """Rows ``start:stop`` (dense ndarray, or CSR for sparse files)."""
        stop = self.shape[0] if stop is None else min(stop, self.shape[0])
        with h5py.File(self.path, "r") as f:
            return ElementRows(f[self.element]).read(start, stop)

    def iter_chunks(self, chunk_rows: int = 4096) -> Iterator[tuple[int, int, np.ndarray | sp.csr_matrix]]:
        """Yield ``(start, stop, rows)`` over the whole matrix, one chunk in memory at a time."""
        with h5py.File(self.path, "r") as f:
            x = ElementRows(f[self.element])
            for start in range(0, self.shape[0], chunk_rows):
                stop = min(start + chunk_rows, self.shape[0])
                yield start, stop, x.read(start, stop)

    def read_rows(self, rows: np.ndarray, chunk_rows: int = 4096) -> np.ndarray | sp.csr_matrix:
        """Rows at positions ``rows`` (any order, repeats allowed): only the chunks holding them are read,
        one at a time."""
        rows = np.asarray(rows, dtype=np.int64)
        uniq, inverse = np.unique(rows, return_inverse=True)
        parts = []
        with h5py.File(self.path, "r") as f:
            x = ElementRows(f[self.element])
            for c in np.unique(uniq // chunk_rows):
                start = int(c) * chunk_rows
                sel = uniq[(uniq >= start) & (uniq < start + chunk_rows)]
                parts.append(x.read(start, min(start + chunk_rows, self.shape[0]))[sel - start])
        if not parts:
            return sp.csr_matrix((0, self.shape[1])) if self.sparse else np.zeros((0, self.shape[1]), np.float32)
        stacked = sp.vstack(parts, format="csr") if self.sparse else np.concatenate(parts)
        return stacked[inverse]
