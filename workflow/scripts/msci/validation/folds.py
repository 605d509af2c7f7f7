"""Assign training cells to cross-validation folds."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold, KFold, StratifiedKFold

STRATEGIES = ("auto", "kfold", "stratified", "group_day", "group_donor")
GROUPED = ("group_day", "group_donor")


def resolve_strategy(strategy: str, train: pd.DataFrame) -> str:
    """The strategy ``auto`` stands for on these training cells; any other strategy is returned as given.

    ``auto`` holds out whole batches, as a user's test cells come from new batches and donors: whole days
    (the cells' ``day``: a day or batch) where the training cells span at least two, else whole donors where
    they span at least two, else folds stratified on good validation.
    """
    if strategy != "auto":
        return strategy
    for column, grouped in (("day", "group_day"), ("donor", "group_donor")):
        if column in train and train[column].nunique() >= 2:
            return grouped
    return "stratified"


def batch_labels(train: pd.DataFrame) -> np.ndarray:
    """Each training cell's batch: its donor × day (the units an early-stopping split holds out whole)."""
    columns = [train[c].astype(str) for c in ("donor", "day") if c in train]
    if not columns:
        return np.zeros(len(train), dtype=object)
    return (columns[0] + "/" + columns[-1] if len(columns) > 1 else columns[0]).to_numpy()


def make_folds(cells: pd.DataFrame, strategy: str = "auto", n_splits: int = 7, seed: int = 0,
               good_validation: pd.Series | None = None, day_out: bool = True) -> pd.DataFrame:
    """Fold number, good-validation flag and day-out flag of every training cell of ``cells``.

    ``auto`` resolves per :func:`resolve_strategy`. ``stratified`` keeps each fold's share of
    good-validation cells (the original solution meant to, but its label never reached the splitter);
    ``kfold`` shuffles; ``group_day`` and ``group_donor`` hold out whole days or donors (``n_splits``
    capped at the number of groups); grouped folds also give each cell its ``stop_group`` (its batch,
    donor × day), so that early-stopping models choose their epoch on whole batches they did not train on.
    ``day_out`` marks the cells of the latest training day, where there are at least two training
    days: models trained on the earlier days are scored on them, as the private test day is later
    than every training day (``cv_pearson_day_out``). ``attrs['strategy']`` records the strategy used.
    """
    train = cells[cells["split"] == "train"]
    strategy = resolve_strategy(strategy, train)
    labels = None
    if good_validation is not None:
        pos = good_validation.index.get_indexer(train.index)
        if (pos < 0).any():
            raise ValueError(f"{int((pos < 0).sum())} training cells have no good-validation label")
        labels = good_validation.to_numpy(bool)[pos]
    n = len(train)
    fold = np.full(n, -1, dtype=np.int64)
    for k, (_, valid) in enumerate(_splits(train, strategy, n_splits, seed, labels)):
        fold[valid] = k
    out = pd.DataFrame({"fold": fold}, index=train.index)
    if labels is not None:
        out["good_validation"] = labels
    if strategy in GROUPED:
        out["stop_group"] = batch_labels(train).astype(str)
    days = train["day"].to_numpy() if "day" in train else np.zeros(n)
    out["day_out"] = (days == days.max()) if day_out and len(np.unique(days)) >= 2 else np.zeros(n, bool)
    out.attrs["strategy"] = strategy
    return out


def _splits(train: pd.DataFrame, strategy: str, n_splits: int, seed: int, labels: np.ndarray | None):
    n = len(train)
    if strategy == "kfold":
        return KFold(n_splits, shuffle=True, random_state=seed).split(np.zeros(n))
    if strategy == "stratified":
        if labels is None:
            raise ValueError("the stratified strategy needs labels")
        return StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(np.zeros(n), labels)
    if strategy in GROUPED:
        column = strategy.removeprefix("group_")
        groups = train[column].to_numpy() if column in train else np.zeros(n)
        k = min(n_splits, len(np.unique(groups)))
        if k < 2:
            raise ValueError(f"{strategy} needs at least two distinct {column}s among training cells")
        return GroupKFold(k).split(np.zeros(n), groups=groups)
    raise ValueError(f"unknown fold strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")


def inner_split(rows: np.ndarray, labels: np.ndarray | None, fraction: float,
                seed: int, groups: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``rows`` split into (fit, stop): ``fraction`` of them, stratified on ``labels``, to early-stop on.

    With ``groups`` (each row's batch) spanning at least two batches among ``rows``, the stop rows are
    whole batches instead, drawn in a seeded order until they hold at least ``fraction`` of the rows (at
    least one batch stops, at least one fits), so the epoch is chosen on batches the model never trained on.
    Seeded, so every model of a fold stops on the same cells. At least one row stops and one fits.
    """
    rows = np.asarray(rows)
    if len(rows) < 2:
        raise ValueError(f"an early-stopping split needs at least two training cells, not {len(rows)}")
    rng = np.random.default_rng(seed)
    if groups is not None and len(np.unique(groups)) >= 2:
        stop = _whole_groups(np.asarray(groups), fraction, rng)
        return rows[~stop], rows[stop]
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


def _whole_groups(groups: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A mask of whole groups, drawn in a seeded order until they cover ``fraction`` of the rows (never all)."""
    names, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    order = rng.permutation(len(names))
    covered = np.cumsum(counts[order])
    n_stop = min(int(np.searchsorted(covered, fraction * len(groups))) + 1, len(names) - 1)
    return np.isin(inverse, order[:n_stop])
