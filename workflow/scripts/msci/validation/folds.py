"""Assign training cells to cross-validation folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

STRATEGIES = ("kfold", "stratified", "group_day", "group_donor")


def make_folds(cells: pd.DataFrame, strategy: str = "stratified", n_splits: int = 7, seed: int = 0,
               good_validation: pd.Series | None = None, day_out: bool = True) -> pd.DataFrame:
    """Fold number, good-validation flag and day-out flag of every training cell of ``cells``.

    ``stratified`` keeps each fold's share of good-validation cells (the original solution meant
    to, but its label never reached the splitter); ``kfold`` shuffles; ``group_day`` and
    ``group_donor`` hold out whole days or donors (``n_splits`` capped at the number of groups).
    ``day_out`` marks the cells of the latest training day, where there are at least two training
    days: models trained on the earlier days are scored on them, as the private test day is later
    than every training day (``cv_pearson_day_out``).
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
    days = train["day"].to_numpy() if "day" in train else np.zeros(n)
    out["day_out"] = (days == days.max()) if day_out and len(np.unique(days)) >= 2 else np.zeros(n, bool)
    return out


def inner_split(rows: np.ndarray, labels: np.ndarray | None, fraction: float,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` split into (fit, stop): ``fraction`` of them, stratified on ``labels``, to early-stop on.

    Seeded, so every model of a fold stops on the same cells. At least one row stops and one fits.
    """
    rows = np.asarray(rows)
    if len(rows) < 2:
        raise ValueError(f"an early-stopping split needs at least two training cells, not {len(rows)}")
    rng = np.random.default_rng(seed)
    labels = np.zeros(len(rows), dtype=np.int8) if labels is None else np.asarray(labels)
    stop = np.zeros(len(rows), dtype=bool)
    for value in np.unique(labels):
        idx = np.flatnonzero(labels == value)
        stop[rng.permutation(idx)[: int(round(fraction * len(idx)))]] = True
    if not stop.any():
        stop[rng.integers(len(rows))] = True
    if stop.all():
        stop[rng.integers(len(rows))] = False
    return rows[~stop], rows[stop]
