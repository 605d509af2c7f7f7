"""Assemble a model's design matrix from feature tables (one parquet per family, index cell_id)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msci.io.checks import InputError


def load_features(paths: Sequence[str | os.PathLike], cell_ids: np.ndarray) -> pd.DataFrame:
    """Feature tables side by side, rows in ``cell_ids`` order, float32, column names prefixed unique."""
    parts = []
    for path in paths:
        df = pd.read_parquet(path)
        pos = df.index.get_indexer(cell_ids)
        if (pos < 0).any():
            raise InputError(path, f"{int((pos < 0).sum())} cell(s) have no features")
        parts.append(df.iloc[pos].astype(np.float32))
    out = pd.concat(parts, axis=1)
    if not out.columns.is_unique:
        raise ValueError(f"feature tables share column names: {out.columns[out.columns.duplicated()][:3].tolist()}")
    return out


def fit_mask(cells_path: str | os.PathLike, cell_ids: np.ndarray, fit_on: str) -> np.ndarray | None:
    """Rows an unsupervised feature step is fit on: ``all`` cells (None) or the ``train`` cells."""
    if fit_on == "all":
        return None
    if fit_on != "train":
        raise ValueError(f"fit_on must be all or train, not {fit_on!r}")
    cells = pd.read_parquet(cells_path)
    return (cells.loc[cell_ids, "split"] == "train").to_numpy()


@dataclass
class RowChunk:
    """New cells' rows on their way through a run's fitted feature families (a query, one chunk at a time).

    ``block``: the rows in the run's input space (its features, its normalisation); ``tables``: the families
    computed so far (a family may read another, as ivis reads its source).
    """

    block: object
    cells: np.ndarray
    tables: dict[str, np.ndarray] = field(default_factory=dict)
