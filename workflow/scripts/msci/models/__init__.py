"""Models behind one protocol (``fit(X, y, eval_set=…)``, ``predict``) and a registry by type.

``eval_set`` is a list of ``(X, y)`` or ``(X, y, scale)``: the **last** set decides early stopping
(as in XGBoost and TabNet); every set's score per epoch or round — mean per-cell Pearson, each
cell's Pearson times its ``scale`` when given — is kept in ``eval_history_`` (one list per set).
A model that averages several fits may also give ``eval_best_``: per set, its score had that set
chosen the epochs (otherwise the history's maximum).
Models that take an ``eval_set`` say with ``stops_early`` whether it would choose their epoch or round.
"""

from __future__ import annotations

import numpy as np


def eval_triples(eval_set) -> list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]:
    """``eval_set`` as ``(X, y float32, scale or None)`` triples."""
    out = []
    for entry in eval_set or []:
        X, y, *rest = entry
        scale = np.asarray(rest[0], dtype=np.float64) if rest and rest[0] is not None else None
        out.append((X, np.asarray(y, dtype=np.float32), scale))
    return out
