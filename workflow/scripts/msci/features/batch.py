"""Feature families from each cell's batch (its day and donor), two of the Kaggle 2022 top teams' ideas.

* ``centred`` (2nd place's per-day batch correction): another family's table with each batch's median
  (or mean) subtracted, so that what a day shifts in every cell is gone. Every cell is centred on the
  cells of its own batch, training and test cells alike (the test day on the test cells, as the
  unsupervised families fit on train + test).
* ``metadata`` (1st place): the cells table's columns as features, numbers as they are and categories
  one-hot.

Both need each cell's batch, which a query's cells do not carry: a run's reference refuses them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from msci.io.artifacts import write_parquet
from msci.io.checks import InputError


def _cells(cells_path: str | os.PathLike, columns: Sequence[str], cell_ids: pd.Index, setting: str) -> pd.DataFrame:
    """The cells table's ``columns`` in ``cell_ids`` order; one clear line where a column or a cell is missing."""
    cells = pd.read_parquet(cells_path)
    missing = [c for c in columns if c not in cells.columns]
    if missing:
        raise InputError(cells_path, f"no column {', '.join(map(repr, missing))} for {setting} "
                                     f"(columns: {', '.join(map(str, cells.columns))})")
    pos = cells.index.get_indexer(cell_ids)
    if (pos < 0).any():
        raise InputError(cells_path, f"{int((pos < 0).sum())} cell(s) of the feature table are not in it")
    return cells.iloc[pos][list(columns)]


def centred_table(table: pd.DataFrame, batches: pd.DataFrame, statistic: str = "median") -> pd.DataFrame:
    """``table`` less its batch's ``statistic`` (median or mean) in every cell; batches: one column per key."""
    if statistic not in ("median", "mean"):
        raise ValueError(f"statistic must be median or mean, not {statistic!r}")
    keys = [batches[c].to_numpy() for c in batches.columns]
    centre = table.groupby(keys, sort=False, dropna=False).transform(statistic)
    return (table - centre).astype(np.float32).add_prefix("centred_")


def centred_features(table_path: str | os.PathLike, cells_path: str | os.PathLike, out_path: str | os.PathLike,
                     by: Sequence[str], statistic: str) -> pd.DataFrame:
    """The ``centred`` family: a feature table centred per batch (``by``: cells-table columns, e.g. day)."""
    table = pd.read_parquet(table_path)
    out = centred_table(table, _cells(cells_path, by, table.index, "features.centred.by"), statistic)
    write_parquet(out, out_path)
    return out


def metadata_table(cells: pd.DataFrame, numeric: Sequence[str], categorical: Sequence[str]) -> pd.DataFrame:
    """Numeric columns as numbers, categorical ones one-hot (``meta_<column>_<value>``), one row per cell."""
    parts = [cells[list(numeric)].apply(pd.to_numeric, errors="raise").astype(np.float32).add_prefix("meta_")]
    for c in categorical:
        parts.append(pd.get_dummies(cells[c].astype(str), prefix=f"meta_{c}", prefix_sep="_", dtype=np.float32))
    return pd.concat(parts, axis=1)


def metadata_features(cells_path: str | os.PathLike, out_path: str | os.PathLike, numeric: Sequence[str],
                      categorical: Sequence[str]) -> pd.DataFrame:
    """The ``metadata`` family: the cells table's columns as features, for every cell of the table."""
    if not [*numeric, *categorical]:
        raise ValueError("features.metadata names no column (numeric or categorical)")
    index = pd.read_parquet(cells_path, columns=[]).index
    cells = _cells(cells_path, [*numeric, *categorical], index, "features.metadata")
    try:
        out = metadata_table(cells, numeric, categorical)
    except ValueError as err:
        raise InputError(cells_path, f"features.metadata.numeric: {err}") from None
    out.index.name = "cell_id"
    write_parquet(out, out_path)
    return out
