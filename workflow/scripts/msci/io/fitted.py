"""Fitted objects on disk, each in its library's own format, written atomically.

scikit-learn objects go through ``skops`` (no pickle: loading refuses any type outside scikit-learn, numpy,
scipy and msci); torch weights are ``state_dict``s loaded with ``weights_only=True``; arrays are ``.npz``.
A folder of fitted objects (one model's folds) is written under a temporary name and renamed whole.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from msci.io.artifacts import atomic_path

# Module prefixes of the types a skops file may hold: a file naming anything else is refused.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "msci.", "builtins.", "collections.")


def save_sklearn(obj: Any, path: str | os.PathLike) -> None:
    """A scikit-learn estimator (or pipeline) as a ``.skops`` file."""
    import skops.io as sio

    with atomic_path(path) as tmp:
        sio.dump(obj, tmp)


def load_sklearn(path: str | os.PathLike) -> Any:
    """An estimator written by :func:`save_sklearn`; types outside :data:`TRUSTED_PREFIXES` are refused."""
    import skops.io as sio

    untrusted = sio.get_untrusted_types(file=path)
    foreign = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if foreign:
        raise ValueError(f"{path}: holds types outside scikit-learn/numpy/msci ({', '.join(foreign)}); not loaded")
    return sio.load(path, trusted=untrusted)


class SkopsSaved:
    """Mixin of scikit-learn estimators saved whole as ``<stem>.skops`` (the models' ``save``/``load`` protocol)."""

    def save(self, stem: str) -> None:
        save_sklearn(self, f"{stem}.skops")

    @classmethod
    def load(cls, stem: str, params: dict) -> Any:
        return load_sklearn(f"{stem}.skops")


def save_state_dicts(states: list[dict], path: str | os.PathLike) -> None:
    """torch ``state_dict``s (one per network) as one ``.pt`` file."""
    import torch

    with atomic_path(path) as tmp:
        torch.save(states, tmp)


def load_state_dicts(path: str | os.PathLike) -> list[dict]:
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; it replaces ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_manifest(folder: str | os.PathLike, manifest: dict) -> None:
    """``fitted.json``: what a folder of fitted objects holds and how to read it back."""
    (Path(folder) / "fitted.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def read_manifest(folder: str | os.PathLike) -> dict:
    path = Path(folder) / "fitted.json"
    if not path.exists():
        raise FileNotFoundError(f"{folder}: no fitted.json (not a folder of fitted objects; rerun its rule)")
    return json.loads(path.read_text())
