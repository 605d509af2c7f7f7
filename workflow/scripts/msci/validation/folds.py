"""Assign training cells to cross-validation folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

STRATEGIES = ("kfold", "stratified", "group_day", "group_donor")


def make_folds(cells: pd.DataFrame, strategy: str = "kfold", n_splits: int = 5, seed: int = 0,
               labels: np.ndarray | None = None) -> pd.DataFrame:
    """Fold number of every training cell of ``cells`` (index ``cell_id``, column ``split``).

    ``kfold`` shuffles; ``stratified`` keeps each fold's share of ``labels``; ``group_day`` and
    ``group_donor`` hold out whole days or donors (n_splits is capped at the number of groups).
    """
    train = cells[cells["split"] == "train"]
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
        out["label"] = labels
    return out
