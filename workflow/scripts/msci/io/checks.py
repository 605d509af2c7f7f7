"""Input checks that stop a run early with one clear line naming the file and the problem."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd


class InputError(Exception):
    """A user-supplied input is missing or malformed; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def require_file(path: str | os.PathLike) -> None:
    if not os.path.exists(path):
        raise InputError(path, "file not found")
    if os.path.getsize(path) == 0:
        raise InputError(path, "file is empty")


def require_columns(df: pd.DataFrame, columns: Sequence[str], path: str | os.PathLike) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}; found {', '.join(map(str, df.columns))}")


def require_unique(names: np.ndarray, path: str | os.PathLike, what: str) -> None:
    idx = pd.Index(names)
    if not idx.is_unique:
        dup = idx[idx.duplicated()][:3].tolist()
        raise InputError(path, f"duplicated {what}: {', '.join(map(str, dup))}")


def require_same_names(a: np.ndarray, b: np.ndarray, path_a: str | os.PathLike,
                       path_b: str | os.PathLike, what: str) -> None:
    """``a`` and ``b`` must list the same names in the same order."""
    if len(a) != len(b):
        raise InputError(path_b, f"has {len(b)} {what}, {os.path.basename(str(path_a))} has {len(a)}")
    diff = np.flatnonzero(np.asarray(a) != np.asarray(b))
    if diff.size:
        i = int(diff[0])
        raise InputError(path_b, f"{what} differ from {os.path.basename(str(path_a))} "
                                 f"(first at position {i}: {b[i]!r} vs {a[i]!r})")


def require_finite(block: np.ndarray, path: str | os.PathLike, row_offset: int = 0) -> None:
    """Every value of ``block`` (dense or the ``data`` of a sparse block) must be finite."""
    values = block.data if hasattr(block, "data") and not isinstance(block, np.ndarray) else block
    bad = ~np.isfinite(values)
    if bad.any():
        if isinstance(block, np.ndarray):
            r = int(np.argwhere(bad)[0][0]) + row_offset
            raise InputError(path, f"non-finite value (NaN or inf) in row {r}")
        raise InputError(path, f"non-finite value (NaN or inf) in rows {row_offset}..{row_offset + block.shape[0] - 1}")
