"""The competition's files: names, chunked reading of pandas fixed-format HDF5, writing them.

Each ``.h5`` holds one pandas "fixed" frame: a group named after the file stem with ``axis0``
(column names), ``axis1`` (cell ids) and one or more ``blockN_items``/``blockN_values`` pairs
(rows × items). Rows are read by slices, never the whole file. PyTables does the reading: it
decodes every compression pandas writes (zlib, blosc, lzo, bzip2), where h5py alone lacks blosc.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import tables

from msci.io.artifacts import atomic_path
from msci.io.checks import InputError, require_file
from msci.io.matrix import decode_names

MODALITIES = ("cite", "multi")
TECHNOLOGY = {"cite": "citeseq", "multi": "multiome"}
METADATA = "metadata.csv"
EVALUATION_IDS = "evaluation_ids.csv"
SAMPLE_SUBMISSION = "sample_submission.csv"


def input_files(modality: str) -> dict[str, str]:
    """File names of one modality: train inputs, train targets, test inputs."""
    return {
        "train_inputs": f"train_{modality}_inputs.h5",
        "train_targets": f"train_{modality}_targets.h5",
        "test_inputs": f"test_{modality}_inputs.h5",
    }


@dataclass(frozen=True)
class FrameInfo:
    """Layout of one fixed-format frame: its key, columns, row ids and blocks."""

    path: str
    key: str
    columns: np.ndarray
    index: np.ndarray
    blocks: tuple[tuple[str, np.ndarray], ...]  # (values dataset name, column positions in `columns`)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.index), len(self.columns)


def _hdf5_reason(e: Exception) -> str:
    """The innermost reason of an HDF5 error, on one line (HDF5 prints a whole back trace)."""
    text = str(e)
    if "End of HDF5 error back trace" in text:
        trace = text.split("End of HDF5 error back trace")[0].strip().splitlines()
        return trace[-1].strip() if trace else "HDF5 error"
    return " ".join(text.split())


def _open(path: str) -> tables.File:
    try:
        return tables.open_file(path, "r")
    except (OSError, tables.HDF5ExtError) as e:
        reason = _hdf5_reason(e)
        what = "truncated HDF5 file" if "truncated" in reason else "not a readable HDF5 file"
        raise InputError(path, f"{what} ({reason})") from None


def frame_info(path: str | os.PathLike) -> FrameInfo:
    """Read the layout of a fixed-format frame (names only, no values)."""
    path = str(path)
    require_file(path)
    with _open(path) as f:
        groups = [g._v_name for g in f.root._f_iter_nodes(classname="Group")]
        stem = Path(path).stem
        if stem in groups:
            key = stem
        elif len(groups) == 1:
            key = groups[0]
        else:
            raise InputError(path, f"expected one pandas frame named {stem!r}, found groups {groups}")
        g = f.get_node(f"/{key}")
        for needed in ("axis0", "axis1"):
            if needed not in g:
                raise InputError(path, f"group {key!r} is not a pandas fixed-format frame (no {needed})")
        columns = decode_names(g.axis0.read())
        index = decode_names(g.axis1.read())
        col_pos = pd.Index(columns)
        nblocks = int(getattr(g._v_attrs, "nblocks", 1))
        blocks = []
        for b in range(nblocks):
            vals, items = f"block{b}_values", f"block{b}_items"
            if vals not in g or items not in g:
                raise InputError(path, f"frame {key!r} lacks {vals} or {items}")
            names = decode_names(g[items].read())
            pos = col_pos.get_indexer(names)
            if (pos < 0).any():
                raise InputError(path, f"{items} names columns missing from axis0")
            dtype = getattr(g[vals], "dtype", None)
            if not isinstance(g[vals], tables.Array) or dtype is None or dtype.kind not in "fiub":
                shown = ", ".join(map(str, names[:3])) + (", …" if len(names) > 3 else "")
                raise InputError(path, f"non-numeric column(s) {shown} ({len(names)} in {vals})")
            if tuple(g[vals].shape) != (len(index), len(pos)):
                raise InputError(path, f"{vals} has shape {tuple(g[vals].shape)}, expected {(len(index), len(pos))}")
            blocks.append((vals, pos))
        covered = np.concatenate([p for _, p in blocks]) if blocks else np.array([], int)
        if len(covered) != len(columns) or len(np.unique(covered)) != len(columns):
            raise InputError(path, "blocks do not cover every column exactly once")
    return FrameInfo(path, key, columns, index, tuple(blocks))


def read_rows(info: FrameInfo, start: int, stop: int, h5: tables.File | None = None) -> np.ndarray:
    """Rows ``start:stop`` as float32 (rows × columns in ``axis0`` order)."""
    out = np.empty((stop - start, len(info.columns)), dtype=np.float32)
    f = _open(info.path) if h5 is None else h5
    try:
        g = f.get_node(f"/{info.key}")
        if len(info.blocks) == 1 and np.array_equal(info.blocks[0][1], np.arange(len(info.columns))):
            g[info.blocks[0][0]].read(start, stop, out=out)  # one block in column order: no second copy
        else:
            for vals, pos in info.blocks:
                out[:, pos] = g[vals].read(start, stop)
    except (tables.HDF5ExtError, OSError, ValueError) as e:
        reason = _hdf5_reason(e)
        raise InputError(info.path, f"cannot read rows {start}-{stop}, truncated or corrupt ({reason})") from None
    finally:
        if h5 is None:
            f.close()
    return out


def iter_rows(info: FrameInfo, chunk_rows: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, rows)`` over the frame, ``chunk_rows`` rows at a time."""
    with _open(info.path) as f:
        for start in range(0, len(info.index), chunk_rows):
            stop = min(start + chunk_rows, len(info.index))
            yield start, stop, read_rows(info, start, stop, h5=f)


def write_frame(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a frame as the competition does (fixed format, key = file stem), atomically."""
    with atomic_path(path) as tmp:
        df.to_hdf(tmp, key=Path(path).stem, format="fixed", mode="w")


class FrameWriter:
    """Write a competition-format frame (pandas fixed format, one float32 block) by row chunks.

    For files too large to build in memory (full-size benchmarks, large simulations): the layout is
    what ``DataFrame.to_hdf(format="fixed")`` writes, so pandas and :func:`frame_info` read it. The
    file appears (atomically) on ``close``/leaving the ``with`` block, once every row is written.
    """

    def __init__(self, path: str | os.PathLike, index, columns, complib: str = "blosc:lz4",
                 complevel: int = 1, index_name: str = "cell_id") -> None:
        self.path = Path(path)
        self.index = np.asarray(index).astype("S")
        self.columns = np.asarray(columns).astype("S")
        self.filters = tables.Filters(complevel=complevel, complib=complib, shuffle=True)
        self.index_name = index_name
        self.rows_written = 0

    def __enter__(self) -> FrameWriter:
        self._atomic = atomic_path(self.path)
        self._tmp = self._atomic.__enter__()
        self._h5 = tables.open_file(self._tmp, "w")
        g = self._h5.create_group("/", self.path.stem)
        for k, v in {"pandas_type": "frame", "encoding": "UTF-8", "errors": "strict", "ndim": 2, "nblocks": 1,
                     "axis0_variety": "regular", "axis1_variety": "regular",
                     "block0_items_variety": "regular"}.items():
            g._v_attrs[k] = v
        for name, values, label in (("axis0", self.columns, None), ("axis1", self.index, self.index_name),
                                    ("block0_items", self.columns, None)):
            arr = self._h5.create_carray(g, name, obj=values, filters=self.filters)
            for k, v in {"kind": "string", "name": label, "nan_rep": "", "transposed": True}.items():
                arr.attrs[k] = v
        p = len(self.columns)
        rows = int(max(1, min(1024, (1 << 20) // max(p * 4, 1))))  # ~1 MB chunks
        self._values = self._h5.create_carray(g, "block0_values", tables.Float32Atom(), shape=(len(self.index), p),
                                              filters=self.filters, chunkshape=(rows, p))
        self._values.attrs.transposed = True
        return self

    def append(self, block: np.ndarray) -> None:
        """Write the next ``len(block)`` rows."""
        stop = self.rows_written + len(block)
        if stop > len(self.index) or block.shape[1] != len(self.columns):
            raise ValueError(f"block of shape {block.shape} does not fit the frame at row {self.rows_written}")
        self._values[self.rows_written: stop] = np.asarray(block, dtype=np.float32)
        self.rows_written = stop

    def __exit__(self, exc_type, exc, tb) -> None:
        self._h5.close()
        if exc_type is None and self.rows_written != len(self.index):
            err = ValueError(f"{self.path}: {self.rows_written} of {len(self.index)} rows written")
            self._atomic.__exit__(ValueError, err, None)  # removes the temporary file
            raise err
        self._atomic.__exit__(exc_type, exc, tb)
