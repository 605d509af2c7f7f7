"""Feature family ``svd``: a truncated SVD (PCA when centred) of the ingested inputs, one table for all cells.

The chunked randomized SVD itself is :mod:`msci.chunked_svd`, shared with target codes, LSI and
svd_chrom; this module holds only the family, so editing it reruns the ``svd`` features and their users.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from msci.chunked_svd import ChunkedTruncatedSVD, RowSubset
from msci.features.table import RowChunk
from msci.io.artifacts import write_parquet
from msci.io.fitted import load_sklearn, save_sklearn
from msci.io.matrix import MatrixFile


def svd_features(inputs_path: str, out_path: str, n_components: int = 64, center: bool = False,
                 n_iter: int = 4, chunk_rows: int = 4096, seed: int = 0, prefix: str = "svd",
                 fit_mask: np.ndarray | None = None, out_fitted: str | None = None) -> pd.DataFrame:
    """Reduce the ingested inputs to ``n_components`` columns for all cells, written as parquet.

    The SVD is fit on all cells (train + test, the method's choice) or, with ``fit_mask``, on those
    rows only (e.g. training cells) and applied to all. ``out_fitted``: the fitted SVD (``.skops``), which
    projects new cells (:class:`SvdFamily`).
    """
    m = MatrixFile(inputs_path)
    svd = ChunkedTruncatedSVD(n_components, n_iter=n_iter, center=center, chunk_rows=chunk_rows, random_state=seed)
    if fit_mask is None:
        z = svd.fit_transform(m).astype(np.float32)
    else:
        z = svd.fit(RowSubset(m, fit_mask)).transform(m).astype(np.float32)
    df = pd.DataFrame(z, index=pd.Index(m.obs_names, name="cell_id"),
                      columns=[f"{prefix}_{i}" for i in range(z.shape[1])])
    write_parquet(df, out_path)
    if out_fitted:
        save_sklearn(svd, out_fitted)
    return df


class SvdFamily:
    """The fitted ``svd`` family applied to new cells' input rows (a query)."""

    def __init__(self, path: str, prefix: str = "svd") -> None:
        self.svd = load_sklearn(path)
        self.columns = [f"{prefix}_{i}" for i in range(len(self.svd.components_))]

    def transform(self, chunk: RowChunk) -> np.ndarray:
        return self.svd.transform(chunk.block).astype(np.float32)
