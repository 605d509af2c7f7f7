"""Per-cell quality signals: mitochondrial RNA, total signal, detected features.

Mitochondrial genes are the input columns containing ``_MT-`` (``ENSG…_MT-CO1``); a high share
marks stressed or damaged cells, which the original solution found informative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from msci.features.table import RowChunk
from msci.io.artifacts import write_parquet
from msci.io.matrix import MatrixFile

MT_MARKER = "_MT-"


def qc_table(matrix: MatrixFile, chunk_rows: int = 4096) -> pd.DataFrame:
    """``mt_sum``, ``mt_fraction`` (if any mitochondrial column), ``total``, ``n_detected`` per cell."""
    mt = np.array([MT_MARKER in str(c) for c in matrix.var_names])
    rows = []
    for _, _, block in matrix.iter_chunks(chunk_rows):
        total = np.asarray(block.sum(axis=1)).ravel()
        detected = block.getnnz(axis=1) if sp.issparse(block) else (block != 0).sum(axis=1)
        cols = {"total": total, "n_detected": np.asarray(detected).ravel()}
        if mt.any():
            cols["mt_sum"] = np.asarray(block[:, np.flatnonzero(mt)].sum(axis=1)).ravel()
            cols["mt_fraction"] = np.divide(cols["mt_sum"], total, out=np.zeros_like(total), where=total > 0)
        rows.append(pd.DataFrame(cols))
    df = pd.concat(rows, ignore_index=True).astype(np.float32)
    df.index = pd.Index(matrix.obs_names, name="cell_id")
    return df.add_prefix("qc_")


def qc_features(inputs_path: str, out_path: str, chunk_rows: int = 4096) -> pd.DataFrame:
    df = qc_table(MatrixFile(inputs_path), chunk_rows)
    write_parquet(df, out_path)
    return df


class QcFamily:
    """The ``qc`` family for new cells (nothing fitted: each cell's own signals)."""

    def __init__(self, input_names) -> None:
        self.input_names = np.asarray(input_names)
        empty = _Block(np.zeros((0, len(self.input_names)), np.float32), self.input_names)
        self.columns = list(qc_table(empty).columns)

    def transform(self, chunk: RowChunk) -> np.ndarray:
        return qc_table(_Block(chunk.block, self.input_names)).to_numpy(np.float32)


class _Block:
    """One block of rows read like a matrix file (what :func:`qc_table` reads)."""

    def __init__(self, block, var_names) -> None:
        self.block, self.var_names = block, var_names
        self.obs_names = np.arange(block.shape[0]).astype(str)

    def iter_chunks(self, chunk_rows: int):
        yield 0, self.block.shape[0], self.block
