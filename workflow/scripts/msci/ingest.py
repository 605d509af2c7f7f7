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
from msci.io.checks import require_finite
from msci.io.competition import TECHNOLOGY, iter_rows
from msci.io.matrix import MatrixWriter
from msci.preflight import check_frames, read_metadata

log = logging.getLogger(__name__)
def _copy_rows(info, writer: MatrixWriter, chunk_rows: int, sparse: bool) -> None:
    for start, stop, block in iter_rows(info, chunk_rows):
        require_finite(block, info.path, start)
        writer.append(sp.csr_matrix(block) if sparse else block, info.index[start:stop])
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
        with MatrixWriter(out_inputs, tr.columns, sparse=sparse_inputs) as w:
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
