"""Multiome peaks reduced per chromosome: a truncated SVD of each chromosome's peaks.

Peaks are named ``chrN:start-end`` (the competition, 10x) or ``chrN-start-end`` / ``chrN_start_end``
(other tools); columns are grouped by their ``chrN`` prefix. All
chromosomes share each pass over the CSR matrix (see :func:`randomized_svd_by_groups`), so the
whole family costs a handful of chunked reads. Unplaced contigs (``GL…``, ``KI…``: few peaks)
are kept raw or reduced together.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from msci.chunked_svd import RowSubset, chunk_source, group_blocks, randomized_svd_by_groups
from msci.features.table import RowChunk
from msci.io.artifacts import write_parquet
from msci.io.fitted import load_sklearn, save_sklearn
from msci.io.matrix import MatrixFile

log = logging.getLogger(__name__)
CONTIGS = "contigs"


def chromosome_groups(peaks) -> dict[str, np.ndarray]:
    """Column positions per chromosome (``chr…`` prefixes) and one ``contigs`` group for the rest."""
    prefix = pd.Series(np.asarray(peaks, dtype=str)).str.extract(r"^(chr[^:_\-]+)[:_\-]", expand=False)
    is_chrom = prefix.notna().to_numpy()
    groups = {c: np.flatnonzero((prefix == c).to_numpy()) for c in pd.unique(prefix[is_chrom])}
    if (~is_chrom).any():
        groups[CONTIGS] = np.flatnonzero(~is_chrom)
    return groups


class ChromosomeSvd(TransformerMixin, BaseEstimator):
    """Fitted per-chromosome SVDs: each group's input columns, components and mean; contig columns kept raw."""

    def __init__(self, groups: list[np.ndarray] | None = None, components: list[np.ndarray] | None = None,
                 means: list[np.ndarray | None] | None = None, raw: np.ndarray | None = None,
                 columns: list[str] | None = None) -> None:
        self.groups = groups
        self.components = components
        self.means = means
        self.raw = raw
        self.columns = columns

    def transform(self, X) -> np.ndarray:
        """Each group's projection, then the raw contig columns, for a block of input rows."""
        order = np.concatenate(self.groups)
        bounds = np.concatenate([[0], np.cumsum([len(g) for g in self.groups])])
        parts = []
        for bl, comp, mean in zip(group_blocks(X, self.groups, order, bounds), self.components, self.means,
                                  strict=True):
            proj = np.asarray(bl @ comp.T, dtype=np.float64)
            parts.append(proj - mean @ comp.T if mean is not None and mean.size else proj)
        if self.raw is not None and len(self.raw):
            sub = X[:, self.raw]
            parts.append(np.asarray(sub.toarray() if hasattr(sub, "toarray") else sub, dtype=np.float64))
        return np.concatenate(parts, axis=1).astype(np.float32)


def svd_chrom_features(inputs_path: str, out_path: str, n_components: int = 100, *,
                       per_chromosome: Mapping[str, int], max_fraction: float = 0.5,
                       contigs: str = "raw", center: bool = False, n_iter: int = 4, chunk_rows: int = 4096,
                       seed: int = 0, fit_mask: np.ndarray | None = None,
                       out_fitted: str | None = None) -> pd.DataFrame:
    """Per-chromosome SVD table of all cells. Each chromosome gets ``per_chromosome.get(chrom, n_components)``
    components, capped at ``max_fraction`` of its peaks; contigs are kept ``raw`` or reduced with ``svd``.
    ``out_fitted``: the fitted :class:`ChromosomeSvd` (``.skops``), which applies it to new cells."""
    m = MatrixFile(inputs_path)
    groups = chromosome_groups(m.var_names)
    raw = groups.pop(CONTIGS, None) if contigs == "raw" else None
    names = list(groups)
    ks = [max(1, min(per_chromosome.get(c, n_components), int(max_fraction * len(groups[c])), m.n_rows - 1))
          for c in names]
    chunks, n, _ = chunk_source(m if fit_mask is None else RowSubset(m, fit_mask), chunk_rows)
    cols = [groups[c] for c in names]
    results = randomized_svd_by_groups(chunks, n, cols, ks, n_iter=n_iter, center=center, seed=seed)
    columns = [f"{c}_svd_{i}" for c, k in zip(names, ks, strict=True) for i in range(k)]
    raw = raw if raw is not None and len(raw) else None
    columns += [f"peak_{p}" for p in m.var_names[raw]] if raw is not None else []
    fitted = ChromosomeSvd(cols, [r["components"] for r in results],
                           [r["mean"] if r["mean"] is not None else np.zeros(0) for r in results], raw, columns)
    if fit_mask is None:
        z = [r["transformed"] for r in results]
        if raw is not None:
            z += [np.concatenate([np.asarray(b[:, raw].toarray() if hasattr(b, "toarray") else b[:, raw])
                                  for _, _, b in m.iter_chunks(chunk_rows)])]
        values = np.concatenate(z, axis=1).astype(np.float32)
    else:  # fit on some rows, project every row
        values = np.concatenate([fitted.transform(block) for _, _, block in m.iter_chunks(chunk_rows)])
    df = pd.DataFrame(values, index=pd.Index(m.obs_names, name="cell_id"), columns=columns)
    log.info("svd_chrom: %d groups → %d columns (%s)", len(names), df.shape[1],
             ", ".join(f"{c}:{k}" for c, k in zip(names, ks, strict=True)))
    write_parquet(df, out_path)
    if out_fitted:
        save_sklearn(fitted, out_fitted)
    return df


class SvdChromFamily:
    """The fitted ``svd_chrom`` family applied to new cells' input rows (a query)."""

    def __init__(self, path: str) -> None:
        self.svd = load_sklearn(path)
        self.columns = list(self.svd.columns)

    def transform(self, chunk: RowChunk) -> np.ndarray:
        return self.svd.transform(chunk.block)
