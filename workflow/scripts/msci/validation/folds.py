"""Assign training cells to cross-validation folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

STRATEGIES = ("kfold", "stratified", "group_day", "group_donor")


def make_folds(cells: pd.DataFrame, strategy: str = "stratified", n_splits: int = 7, seed: int = 0,
               good_validation: pd.Series | None = None) -> pd.DataFrame:
    """Fold number (and good-validation flag) of every training cell of ``cells``.

    ``stratified`` keeps each fold's share of good-validation cells (the original solution meant
    to, but its label never reached the splitter); ``kfold`` shuffles; ``group_day`` and
    ``group_donor`` hold out whole days or donors (``n_splits`` capped at the number of groups).
    """
    train = cells[cells["split"] == "train"]
    labels = None
    if good_validation is not None:
        pos = good_validation.index.get_indexer(train.index)
        if (pos < 0).any():
            raise ValueError(f"{int((pos < 0).sum())} training cells have no good-validation label")
        labels = good_validation.to_numpy(bool)[pos]
    n = len(train)
    fold = np.full(n, -1, dtype=np.int64)
    if strategy == "kfold":
        splits = KFold(n_splits, shuffle=True, random_state=seed).split(np.zeros(n))
    elif strategy == "stratified":
        if labels is None:
            raise ValueError("the stratified strategy needs labels")
        splits = StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(np.zeros(n), labels)
    elif strategy in ("group_day", "group_donor"):
        groups = train[strategy.removeprefix("group_")].to_numpy()
        k = min(n_splits, len(np.unique(groups)))
        if k < 2:
            raise ValueError(f"{strategy} needs at least two distinct {strategy[6:]}s among training cells")
        splits = GroupKFold(k).split(np.zeros(n), groups=groups)
    else:
        raise ValueError(f"unknown fold strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    for k, (_, valid) in enumerate(splits):
        fold[valid] = k
    out = pd.DataFrame({"fold": fold}, index=train.index)
    if labels is not None:
        out["good_validation"] = labels
    return out
