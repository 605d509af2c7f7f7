"""Users' own data: one AnnData inside an ``.h5ad`` file or a modality of an ``.h5mu`` file, read lazily.

``obs``/``var`` come through anndata's ``read_elem``; the matrix (``X`` or a layer) is read by row
chunks (:class:`msci.io.matrix.ElementRows`), so a file larger than memory never loads whole.
Every problem is an :class:`InputError` naming the file (and the modality inside it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import h5py
import numpy as np
import pandas as pd
from anndata.io import read_elem

from msci.io.checks import InputError, require_file
from msci.io.matrix import ElementRows, frame_index

FORMATS = ("anndata", "mudata")


@dataclass(frozen=True)
class AnnDataSource:
    """Where one AnnData lives: ``path``, and for MuData the modality name ``mod`` inside it."""

    path: str
    mod: str | None = None
    layer: str = "X"

    @property
    def label(self) -> str:
        return f"{self.path} (modality {self.mod!r})" if self.mod else self.path

    def error(self, problem: str) -> InputError:
        return InputError(self.label, problem)

    @contextmanager
    def group(self) -> Iterator[h5py.Group]:
        """The HDF5 group holding this AnnData (the file root, or ``/mod/<name>`` of a MuData file)."""
        require_file(self.path)
        try:
            f = h5py.File(self.path, "r")
        except OSError as e:
            raise InputError(self.path, f"not an HDF5 file ({' '.join(str(e).split())})") from None
        with f:
            if self.mod is None:
                g = f
            else:
                mods = sorted(f["mod"].keys()) if "mod" in f else []
                if not mods:
                    raise InputError(self.path, "is not a MuData file (no /mod group)")
                if self.mod not in mods:
                    raise InputError(self.path, f"has no modality {self.mod!r}; modalities: {', '.join(mods)}")
                g = f["mod"][self.mod]
            if "obs" not in g or "var" not in g:
                raise self.error("is not an AnnData file (no obs/var)")
            yield g

    def obs(self) -> pd.DataFrame:
        """The whole ``obs`` table (names and annotation columns; no matrix values)."""
        with self.group() as g:
            obs = read_elem(g["obs"])
        obs.index = obs.index.astype(str)
        return obs

    def obs_names(self) -> np.ndarray:
        with self.group() as g:
            return frame_index(g["obs"])

    def var_names(self) -> np.ndarray:
        with self.group() as g:
            return frame_index(g["var"])

    def _element(self, g: h5py.Group) -> ElementRows:
        if self.layer == "X":
            if "X" not in g:
                raise self.error("has no X")
            elem = g["X"]
        else:
            layers = sorted(g["layers"].keys()) if "layers" in g else []
            if self.layer not in layers:
                raise self.error(f"has no layer {self.layer!r}; layers: {', '.join(layers) or 'none'}")
            elem = g["layers"][self.layer]
        try:
            return ElementRows(elem)
        except (ValueError, KeyError, TypeError) as e:
            raise self.error(f"cannot read {self.layer} as a matrix ({e})") from None

    def shape(self) -> tuple[int, int]:
        with self.group() as g:
            return self._element(g).shape

    def iter_rows(self, chunk_rows: int) -> Iterator[tuple[int, int, object]]:
        """``(start, stop, rows)`` of the matrix in file order, one chunk in memory at a time."""
        with self.group() as g:
            x = self._element(g)
            for start in range(0, x.shape[0], chunk_rows):
                stop = min(start + chunk_rows, x.shape[0])
                yield start, stop, x.read(start, stop)


def sources(spec: dict) -> tuple[AnnDataSource, AnnDataSource]:
    """The (inputs, targets) sources of one modality's ``input:`` entry."""
    if spec["format"] == "mudata":
        path = os.fspath(spec["path"])
        return (AnnDataSource(path, spec["inputs"], spec.get("layer", "X")),
                AnnDataSource(path, spec["targets"], spec.get("target_layer", "X")))
    return (AnnDataSource(os.fspath(spec["inputs"]), None, spec.get("layer", "X")),
            AnnDataSource(os.fspath(spec["targets"]), None, spec.get("target_layer", "X")))


class InMemorySource:
    """An AnnData object already in memory (or backed) read as :class:`AnnDataSource` reads a file: names, and the
    matrix (``X`` or a layer) by row chunks, so the same prediction path serves files and objects."""

    def __init__(self, adata, layer: str | None = None, label: str = "the AnnData") -> None:
        layer = layer or "X"
        if layer != "X" and layer not in adata.layers:
            raise InputError(label, f"has no layer {layer!r}; layers: {', '.join(adata.layers) or 'none'}")
        self.adata, self.layer, self.label = adata, layer, label

    def obs_names(self) -> np.ndarray:
        return np.asarray(self.adata.obs_names.astype(str))

    def var_names(self) -> np.ndarray:
        return np.asarray(self.adata.var_names.astype(str))

    def iter_rows(self, chunk_rows: int) -> Iterator[tuple[int, int, object]]:
        """``(start, stop, rows)`` of the matrix, one chunk at a time."""
        x = self.adata.X if self.layer == "X" else self.adata.layers[self.layer]
        if x is None:
            raise InputError(self.label, "has no X")
        for start in range(0, self.adata.n_obs, chunk_rows):
            stop = min(start + chunk_rows, self.adata.n_obs)
            yield start, stop, x[start:stop]
