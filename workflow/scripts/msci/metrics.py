"""The competition metric: Pearson correlation per cell, averaged over cells.

One implementation, vectorised, used by the CV loop, the ensemble and the scorer. A row with
zero variance (in truth or prediction) has no defined correlation and counts as 0.
"""

from __future__ import annotations

import numpy as np


def row_pearson(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of ``y_true`` with the same row of ``y_pred``."""
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.shape != p.shape:
        raise ValueError(f"shapes differ: {t.shape} vs {p.shape}")
    t = t - t.mean(axis=1, keepdims=True)
    p = p - p.mean(axis=1, keepdims=True)
    num = (t * p).sum(axis=1)
    den = np.sqrt((t * t).sum(axis=1) * (p * p).sum(axis=1))
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def mean_row_pearson(y_true: np.ndarray, y_pred: np.ndarray, scale: np.ndarray | None = None) -> float:
    """The competition score of a dense block: mean per-cell Pearson.

    ``scale`` (per row) multiplies each row's Pearson before averaging: with target codes, each
    cell's ρ, which makes the mean the exact Pearson on the genes (:mod:`msci.target_codes`).
    """
    if not len(y_true):
        return float("nan")
    r = row_pearson(y_true, y_pred)
    return float((r * np.asarray(scale, dtype=np.float64)).mean() if scale is not None else r.mean())


def grouped_pearson(y_true: np.ndarray, y_pred: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson within each group of a long table (one row per scored value).

    Returns ``(group_values, r)``; used to score a submission where each cell has its own
    set of scored targets (Multiome: a different 15 % of genes per cell).
    """
    keys, inv = np.unique(np.asarray(groups), return_inverse=True)
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    n = np.bincount(inv, minlength=len(keys)).astype(np.float64)
    mt = np.bincount(inv, t, len(keys)) / n
    mp = np.bincount(inv, p, len(keys)) / n
    tc, pc = t - mt[inv], p - mp[inv]
    num = np.bincount(inv, tc * pc, len(keys))
    den = np.sqrt(np.bincount(inv, tc * tc, len(keys)) * np.bincount(inv, pc * pc, len(keys)))
    return keys, np.divide(num, den, out=np.zeros_like(num), where=den > 0)


class ColumnPearson:
    """Pearson of each column (a target across cells), accumulated over row blocks in one pass."""

    def __init__(self, n_cols: int) -> None:
        self.n = 0
        self.sums = np.zeros((5, n_cols))  # Σt, Σp, Σt², Σp², Σtp

    def update(self, y_true: np.ndarray, y_pred: np.ndarray) -> None:
        t = np.asarray(y_true, dtype=np.float64)
        p = np.asarray(y_pred, dtype=np.float64)
        self.n += len(t)
        self.sums += [t.sum(0), p.sum(0), (t * t).sum(0), (p * p).sum(0), (t * p).sum(0)]

    def result(self) -> np.ndarray:
        st, sp, stt, spp, stp = self.sums
        n = max(self.n, 1)
        cov = stp - st * sp / n
        vt, vp = stt - st * st / n, spp - sp * sp / n
        # A constant column's variance from sums is rounding noise, not zero: below 1e-10 of Σx², it is zero.
        varies = (vt > 1e-10 * stt) & (vp > 1e-10 * spp)
        den = np.sqrt(np.maximum(vt, 0) * np.maximum(vp, 0))
        return np.divide(cov, den, out=np.zeros_like(cov), where=varies & (den > 0))


def row_standardize(pred: np.ndarray) -> np.ndarray:
    """Each row centred and scaled to unit standard deviation (constant rows become zeros)."""
    pred = np.asarray(pred, dtype=np.float32)
    centred = pred - pred.mean(axis=1, keepdims=True)
    sd = centred.std(axis=1, keepdims=True)
    return np.divide(centred, sd, out=np.zeros_like(centred), where=sd > 0)
