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

from msci.chunked_svd import RowSubset, chunk_source, group_blocks, randomized_svd_by_groups
from msci.io.artifacts import write_parquet
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


def svd_chrom_features(inputs_path: str, out_path: str, n_components: int = 100, *,
                       per_chromosome: Mapping[str, int], max_fraction: float = 0.5,
                       contigs: str = "raw", center: bool = False, n_iter: int = 4, chunk_rows: int = 4096,
                       seed: int = 0, fit_mask: np.ndarray | None = None) -> pd.DataFrame:
    """Per-chromosome SVD table of all cells. Each chromosome gets ``per_chromosome.get(chrom, n_components)``
    components, capped at ``max_fraction`` of its peaks; contigs are kept ``raw`` or reduced with ``svd``."""
    m = MatrixFile(inputs_path)
    groups = chromosome_groups(m.var_names)
    raw = groups.pop(CONTIGS, None) if contigs == "raw" else None
    names = list(groups)
    ks = [max(1, min(per_chromosome.get(c, n_components), int(max_fraction * len(groups[c])), m.n_rows - 1))
          for c in names]
    chunks, n, _ = chunk_source(m if fit_mask is None else RowSubset(m, fit_mask), chunk_rows)
    cols = [groups[c] for c in names]
    results = randomized_svd_by_groups(chunks, n, cols, ks, n_iter=n_iter, center=center, seed=seed)
    if fit_mask is None:
        z = [r["transformed"] for r in results]
    else:  # fit on some rows, project every row
        order = np.concatenate(cols)
        bounds = np.concatenate([[0], np.cumsum([len(g) for g in cols])])
        parts: list[list[np.ndarray]] = [[] for _ in names]
        for _, _, block in m.iter_chunks(chunk_rows):
            for g, bl in enumerate(group_blocks(block, cols, order, bounds)):
                r = results[g]
                proj = np.asarray(bl @ r["components"].T, dtype=np.float64)
                parts[g].append(proj - r["mean"] @ r["components"].T if r["mean"] is not None else proj)
        z = [np.concatenate(p) for p in parts]
    blocks = [pd.DataFrame(zg.astype(np.float32), columns=[f"{c}_svd_{i}" for i in range(k)])
              for c, k, zg in zip(names, ks, z, strict=True)]
    if raw is not None and len(raw):
        values = np.concatenate([np.asarray(b[:, raw].toarray() if hasattr(b, "toarray") else b[:, raw])
                                 for _, _, b in m.iter_chunks(chunk_rows)])
        blocks.append(pd.DataFrame(values.astype(np.float32), columns=[f"peak_{p}" for p in m.var_names[raw]]))
    df = pd.concat(blocks, axis=1)
    df.index = pd.Index(m.obs_names, name="cell_id")
    log.info("svd_chrom: %d groups → %d columns (%s)", len(names), df.shape[1],
             ", ".join(f"{c}:{k}" for c, k in zip(names, ks, strict=True)))
    write_parquet(df, out_path)
    return df
