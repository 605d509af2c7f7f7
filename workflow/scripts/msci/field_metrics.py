"""The field's scores of predicted modalities (openproblems predict_modality), in bounded memory.

openproblems' predict_modality task scores a prediction against the true targets by RMSE and MAE over all
values; the mean per-cell Pearson and Spearman (rows); the mean per-gene Pearson and Spearman (columns); and
the Pearson and Spearman of all values at once. A row, column or whole matrix with zero variance scores 0,
as there. Here both matrices are read in row chunks (``pairs``, a callable that starts a new pass):

* RMSE, MAE, per-cell and overall Pearson take one pass of sums;
* per-gene Spearman needs each column's ranks over all cells: one pass per block of columns that fits
  ``max_values``;
* the overall Spearman needs every value's rank among all values: exact from each matrix's distinct values
  and their counts while those fit ``max_values``, else from the values rounded to float16 (3 significant
  digits; ``overall_spearman_ranks`` says which).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
from scipy.stats import rankdata

from msci.metrics import ColumnPearson, row_pearson

Pairs = Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]
METRICS = ("rmse", "mae", "mean_pearson_per_cell", "mean_spearman_per_cell", "mean_pearson_per_gene",
           "mean_spearman_per_gene", "overall_pearson", "overall_spearman")


def _flat(x: np.ndarray) -> np.ndarray:
    """All values as one column (the overall scores are a column Pearson of the flattened matrices)."""
    return np.asarray(x, np.float64).reshape(-1, 1)


def _value_ranks(pairs: Pairs, side: int, max_values: int, rounded: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """One matrix's distinct values (sorted) and each one's mid-rank among all values, or ``None`` when
    there are more than ``max_values`` of them (rounded to float16, there are at most 65,536)."""
    values, counts = np.zeros(0, np.float32), np.zeros(0, np.int64)
    for chunk in pairs():
        v = np.asarray(chunk[side], np.float32)
        v = v.astype(np.float16).astype(np.float32) if rounded else v
        u, c = np.unique(v, return_counts=True)
        merged, inv = np.unique(np.r_[values, u], return_inverse=True)
        counts = np.bincount(inv, np.r_[counts, c], len(merged)).astype(np.int64)
        values = merged
        if len(values) > max_values and not rounded:
            return None
    below = np.cumsum(counts) - counts
    return values, below + (counts + 1) / 2.0


def overall_spearman(pairs: Pairs, max_values: int) -> tuple[float, str]:
    """Spearman of all values at once; with how the ranks were found ("exact" or "float16-rounded")."""
    tables = [_value_ranks(pairs, side, max_values, rounded=False) for side in (0, 1)]
    rounded = any(t is None for t in tables)
    if rounded:
        tables = [_value_ranks(pairs, side, max_values, rounded=True) for side in (0, 1)]
    overall = ColumnPearson(1)
    for chunk in pairs():
        ranks = []
        for (values, mid), v in zip(tables, chunk, strict=True):
            v = np.asarray(v, np.float32)
            v = v.astype(np.float16).astype(np.float32) if rounded else v
            ranks.append(mid[np.searchsorted(values, v.ravel())])
        overall.update(_flat(ranks[0]), _flat(ranks[1]))
    return float(overall.result()[0]), "float16-rounded" if rounded else "exact"


def gene_spearman(pairs: Pairs, n_cells: int, n_genes: int, max_values: int) -> np.ndarray:
    """Spearman of each column over all cells, a block of columns per pass."""
    block = max(1, max_values // max(2 * n_cells, 1))
    out = np.zeros(n_genes)
    for lo in range(0, n_genes, block):
        cols = slice(lo, min(lo + block, n_genes))
        # Copies, not views: a view would keep its whole chunk alive until the block is assembled.
        y, p = (np.concatenate(parts) for parts in zip(*((a[:, cols].copy(), b[:, cols].copy()) for a, b in pairs()),
                                                        strict=True))
        col = ColumnPearson(y.shape[1])
        col.update(rankdata(y, axis=0), rankdata(p, axis=0))
        out[cols] = col.result()
    return out


def predict_modality_metrics(pairs: Pairs, n_cells: int, n_genes: int, max_values: int = 20_000_000) -> dict:
    """openproblems predict_modality's eight scores of a prediction against its truth, read in row chunks.

    ``pairs()`` yields aligned ``(truth, prediction)`` row chunks (dense, cells × genes) from the start each
    time it is called; at most about ``max_values`` values are held at once besides one chunk.
    """
    sq = ab = 0.0
    r_cell, s_cell = np.zeros(n_cells), np.zeros(n_cells)
    genes, overall, seen = ColumnPearson(n_genes), ColumnPearson(1), 0
    for y, p in pairs():
        y, p = np.asarray(y, np.float64), np.asarray(p, np.float64)
        d = y - p
        sq, ab = sq + float((d * d).sum()), ab + float(np.abs(d).sum())
        rows = slice(seen, seen + len(y))
        r_cell[rows] = row_pearson(y, p)
        s_cell[rows] = row_pearson(rankdata(y, axis=1), rankdata(p, axis=1))
        genes.update(y, p)
        overall.update(_flat(y), _flat(p))
        seen += len(y)
    if seen != n_cells:
        raise ValueError(f"{seen} cells read, {n_cells} expected")
    size = max(n_cells * n_genes, 1)
    spearman, how = overall_spearman(pairs, max_values)
    return {
        "rmse": float(np.sqrt(sq / size)), "mae": ab / size,
        "mean_pearson_per_cell": float(r_cell.mean()), "mean_spearman_per_cell": float(s_cell.mean()),
        "mean_pearson_per_gene": float(genes.result().mean()),
        "mean_spearman_per_gene": float(gene_spearman(pairs, n_cells, n_genes, max_values).mean()),
        "overall_pearson": float(overall.result()[0]), "overall_spearman": spearman,
        "overall_spearman_ranks": how, "n_cells": n_cells, "n_genes": n_genes,
    }
