"""Ingest one modality: check the competition files, then copy them chunk by chunk into artifacts.

Outputs: ``cells.parquet`` (train then test cells with their metadata and split),
``inputs.h5ad`` (CSR or dense, all cells in that order) and ``targets.h5ad`` (train cells, in the
targets file's own order: every consumer matches cells by id).
Every check runs while reading, so bad input stops the run before any artifact is complete.
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pandas as pd
import scipy.sparse as sp

from msci.io.artifacts import write_parquet
from msci.io.checks import InputError, require_columns, require_file, require_finite, require_same_names, require_unique
from msci.io.competition import TECHNOLOGY, FrameInfo, frame_info, iter_rows
from msci.io.matrix import MatrixWriter

log = logging.getLogger(__name__)
# The competition's inputs come normalised (CITE: log1p of counts per 10k; Multiome: TF-IDF), as a query must.
GIVEN = "given"
METADATA_COLUMNS = ("cell_id", "day", "donor", "cell_type", "technology")


def read_metadata(path: str | os.PathLike, cell_ids: np.ndarray) -> pd.DataFrame:
    """Metadata rows of ``cell_ids``, in that order: every cell covered exactly once, a known
    technology and a numeric day."""
    require_file(path)
    try:
        meta = pd.read_csv(path, dtype={"cell_id": str, "cell_type": str, "technology": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot read as CSV ({' '.join(str(e).split())})") from None
    require_columns(meta, METADATA_COLUMNS, path)
    require_unique(meta["cell_id"].to_numpy(), path, "cell_id")
    meta = meta.set_index("cell_id")
    pos = meta.index.get_indexer(cell_ids)
    missing = np.flatnonzero(pos < 0)
    if missing.size:
        raise InputError(path, f"{missing.size} cell(s) of the inputs are missing, e.g. {cell_ids[missing[0]]}")
    meta = meta.iloc[pos].reset_index()
    day = pd.to_numeric(meta["day"], errors="coerce")
    if day.isna().any():
        i = int(np.flatnonzero(day.isna())[0])
        raise InputError(path, f"day of cell {meta['cell_id'][i]} is {meta['day'][i]!r}, not a number")
    unknown = ~meta["technology"].isin(list(TECHNOLOGY.values()))
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise InputError(path, f"technology of cell {meta['cell_id'][i]} is {meta['technology'][i]!r}; "
                               f"known: {', '.join(TECHNOLOGY.values())}")
    return meta.assign(day=day.to_numpy())


def check_frames(train_inputs: str, test_inputs: str, train_targets: str) -> tuple[FrameInfo, FrameInfo, FrameInfo]:
    """One modality's three frames: readable, numeric, unique names, same input columns, targets for
    exactly the training cells (another order is allowed: cells are matched by id)."""
    tr, te, tg = frame_info(train_inputs), frame_info(test_inputs), frame_info(train_targets)
    for info in (tr, te, tg):
        require_unique(info.index, info.path, "cell ids")
        require_unique(info.columns, info.path, "column names")
    shared = np.intersect1d(tr.index.astype(str), te.index.astype(str))
    if shared.size:
        raise InputError(test_inputs, f"{shared.size} cell id(s) also in {os.path.basename(train_inputs)}, "
                                      f"e.g. {shared[0]}")
    require_same_names(tr.columns, te.columns, train_inputs, test_inputs, "column names")
    pos = pd.Index(tg.index).get_indexer(tr.index)
    if (pos < 0).any():
        missing = tr.index[pos < 0]
        raise InputError(train_targets, f"{len(missing)} training cell(s) of {os.path.basename(train_inputs)} "
                                        f"have no targets, e.g. {missing[0]}")
    if len(tg.index) != len(tr.index):
        extra = np.setdiff1d(tg.index.astype(str), tr.index.astype(str))
        raise InputError(train_targets, f"{extra.size} cell(s) are not in {os.path.basename(train_inputs)}, "
                                        f"e.g. {extra[0]}")
    if (pos != np.arange(len(pos))).any():
        log.info("%s lists the training cells in another order than %s: matched by cell id", train_targets,
                 train_inputs)
    return tr, te, tg


def _copy_rows(info, writer: MatrixWriter, chunk_rows: int, sparse: bool) -> None:
    for start, stop, block in iter_rows(info, chunk_rows):
        require_finite(block, info.path, start)
        writer.append(sp.csr_matrix(block) if sparse else block, info.index[start:stop])
        del block  # before the next chunk is read: one chunk in memory at a time
        log.info("%s: rows %d-%d of %d", os.path.basename(info.path), start, stop, len(info.index))


def ingest_modality(modality: str, train_inputs: str, test_inputs: str, train_targets: str, metadata: str,
                    out_cells: str, out_inputs: str, out_targets: str, chunk_rows: int = 1000,
                    sparse_inputs: bool = True) -> pd.DataFrame:
    """Check and copy one modality's competition files into workflow artifacts; return the cells."""
    tr, te, tg = check_frames(train_inputs, test_inputs, train_targets)
    log.info("%s: train %s, test %s, targets %s", modality, tr.shape, te.shape, tg.shape)
    cell_ids = np.concatenate([tr.index, te.index])
    meta = read_metadata(metadata, cell_ids)
    tech = meta["technology"].astype(str).unique()
    if set(tech) - {TECHNOLOGY[modality]}:
        log.warning("%s: technology column holds %s for %s cells", metadata, sorted(tech), modality)
    cells = meta.assign(split=np.repeat(["train", "test"], [len(tr.index), len(te.index)]))
    cells = cells.set_index("cell_id")[["split", "day", "donor", "cell_type", "technology"]]

    try:
        with MatrixWriter(out_targets, tg.columns, sparse=False) as w:
            _copy_rows(tg, w, chunk_rows, False)
        with MatrixWriter(out_inputs, tr.columns, sparse=sparse_inputs, uns={"normalize": GIVEN}) as w:
            _copy_rows(tr, w, chunk_rows, sparse_inputs)
            _copy_rows(te, w, chunk_rows, sparse_inputs)
        write_parquet(cells, out_cells)
    except BaseException:
        for path in (out_targets, out_inputs, out_cells):  # no artifact of a failed ingest survives
            if os.path.exists(path):
                os.remove(path)
        raise
    log.info("%s: %d train + %d test cells, %d inputs, %d targets", modality, len(tr.index), len(te.index),
             len(tr.columns), len(tg.columns))
    return cells
