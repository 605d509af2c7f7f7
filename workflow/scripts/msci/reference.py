"""A finished run as a reusable model: new cells in, predictions in the targets' units out, nothing refit.

Every rule that fits something keeps what it fitted beside its output (feature SVDs, LSI, ivis, the cell-type
and fold models, the codecs, the blend's weights, the level models). ``results/<modality>/reference.json``
(the ``reference`` rule) names them with the settings that tie them together; :func:`load_model` reads it.
:meth:`Reference.predict_file` (the ``query`` rule) and :meth:`Reference.predict` (the Python API) run the
same per-chunk path: the query's features matched to the run's by name (:mod:`msci.feature_match`),
normalised as the run's inputs were, through each fitted family, model and fold, blended, put in units.
Every step works on one row chunk at a time, so memory does not grow with the query's cells.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata.io import read_elem

from msci.archive import unpack
from msci.ensemble import blend, standardize
from msci.feature_match import FeatureMatch, match_features
from msci.features.table import RowChunk
from msci.field_metrics import predict_modality_metrics
from msci.input_space import read_input_space
from msci.io.anndata_input import AnnDataSource, InMemorySource
from msci.io.artifacts import write_json
from msci.io.checks import InputError, require_finite
from msci.io.fitted import read_manifest
from msci.io.matrix import MatrixFile, MatrixWriter, as_dense
from msci.model_card import CARD
from msci.models.registry import REGISTRY
from msci.normalize import counts_per_10k, normalize_block
from msci.predictions import SCALE, spread_calibration, units_block
from msci.target_codes import load_codec

log = logging.getLogger(__name__)
MANIFEST = "reference.json"


def family(name: str, spec: dict[str, Any], root: Path, input_names: np.ndarray):
    """One fitted feature family, loaded from the run (its ``transform(chunk)`` gives its columns)."""
    from msci.features.cell_type import CellTypeFamily
    from msci.features.genes import GenesFamily
    from msci.features.ivis import IvisFamily
    from msci.features.lsi import LsiFamily
    from msci.features.qc import QcFamily
    from msci.features.svd import SvdFamily
    from msci.features.svd_chrom import SvdChromFamily

    loaders = {
        "svd": lambda: SvdFamily(root / spec["fitted"]),
        "lsi": lambda: LsiFamily(root / spec["fitted"]),
        "bm25": lambda: LsiFamily(root / spec["fitted"], prefix="bm25"),
        "svd_chrom": lambda: SvdChromFamily(root / spec["fitted"]),
        "genes": lambda: GenesFamily(root / spec["fitted"], input_names),
        "qc": lambda: QcFamily(input_names),
        "ivis": lambda: IvisFamily(root / spec["fitted"], spec["source"]),
        "cell_type": lambda: CellTypeFamily(root / spec["fitted"], spec["sources"], spec["encoding"]),
    }
    return loaders[name]()


@dataclass
class Member:
    """One blended model: its feature families, its fold models with their maps into the global codes, and the
    shrinkage its own predictions take in units (its CV Pearson where the blend's scale is shrunk)."""

    features: list[str]
    columns: list[str]
    folds: list[Any]
    maps: list[np.ndarray | None]
    shrink: float = 1.0

    def predict(self, tables: dict[str, np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """The fold models' mean (global codes) and each fold's predictions, for one chunk."""
        X = np.concatenate([tables[f] for f in self.features], axis=1)
        folds = []
        for model, to_global in zip(self.folds, self.maps, strict=True):
            pred = model.predict(X)
            folds.append(np.asarray(pred if to_global is None else np.asarray(pred, np.float32) @ to_global,
                                    np.float32))
        mean = np.zeros(folds[0].shape, np.float64)
        for f in folds:
            mean += f / len(folds)
        return mean.astype(np.float32), folds


def load_member(folder: Path, features: list[str], split_maps: dict[str, np.ndarray] | None,
                shrink: float = 1.0) -> Member:
    manifest = read_manifest(folder)
    cls = REGISTRY[manifest["type"]]
    folds = [cls.load(str(folder / f"fold_{k}"), manifest["params"]) for k in manifest["folds"]]
    maps = [None if split_maps is None else split_maps[f"fold_{k}"] for k in manifest["folds"]]
    return Member(features, manifest["features"], folds, maps, shrink)


def split_maps(path: Path) -> dict[str, np.ndarray] | None:
    """Each CV split's map into the global codes (``None`` for exact targets)."""
    with np.load(path, allow_pickle=False) as z:
        if str(z["method"]) == "none":
            return None
        return {str(n): z["maps"][i] for i, n in enumerate(z["names"])}


class LevelModel:
    """The units rule's fold ridges: each cell's predicted level (mean) and scale (sd) from its features."""

    def __init__(self, path: Path) -> None:
        with np.load(path, allow_pickle=False) as z:
            self.mean, self.scale = z["scaler_mean"], z["scaler_scale"]
            self.coef, self.intercept = z["coef"], z["intercept"]
            self.feature_names = [str(n) for n in z["feature_names"]]
            self.target_mean = z["target_mean"].astype(np.float64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Columns m̂, ŝ: the fold ridges' mean prediction of the level and the log sd, the latter exponentiated."""
        out = np.zeros((len(X), 2))
        for mean, scale, coef, intercept in zip(self.mean, self.scale, self.coef, self.intercept, strict=True):
            out += (((X - mean) / scale) @ coef.T + intercept) / len(self.mean)
        return np.c_[out[:, 0], np.exp(out[:, 1])]


@dataclass(frozen=True)
class QueryInput:
    """A query's cells: where they are, how they are normalised, and where their targets are (optional)."""

    inputs: AnnDataSource
    normalize: str = "none"
    targets: AnnDataSource | None = None
    target_normalize: str = "none"

    @classmethod
    def from_config(cls, entry: dict) -> QueryInput:
        """From a ``query:`` entry (the keys of ``input:``: format, path or inputs, layer, normalize, targets)."""
        if entry.get("format", "anndata") == "mudata":
            path = os.fspath(entry["path"])
            inputs = AnnDataSource(path, entry["inputs"], entry.get("layer", "X"))
            targets = AnnDataSource(path, entry["targets"], entry.get("target_layer", "X")) \
                if entry.get("targets") else None
        else:
            inputs = AnnDataSource(os.fspath(entry["inputs"]), None, entry.get("layer", "X"))
            targets = AnnDataSource(os.fspath(entry["targets"]), None, entry.get("target_layer", "X")) \
                if entry.get("targets") else None
        return cls(inputs, entry.get("normalize", "none"), targets, entry.get("target_normalize", "none"))


class Reference:
    """One modality of a finished run, loaded to predict new cells (:func:`load_model`)."""

    def __init__(self, results: str | os.PathLike) -> None:
        self.source = os.fspath(results)
        self._extracted = None
        if Path(results).is_file():  # an exported archive (msci.archive): checked, then read from a scratch copy
            self._extracted, self.card = unpack(results)
            root = Path(self._extracted.name)
        else:
            root = Path(results)
            self.card = json.loads((root / CARD).read_text()) if (root / CARD).exists() else None
        path = root / MANIFEST
        if not path.exists():
            raise FileNotFoundError(f"{results}: no {MANIFEST}; finish the training run there first "
                                    f"(snakemake --cores N), or give a results/<modality> folder or an .msci archive")
        self.root, self.manifest = root, json.loads(path.read_text())
        try:
            self._load(root)
        except KeyError as err:
            raise ValueError(f"{results}: written by an older msci (it has no {err}); rerun the training run there "
                             f"(snakemake --cores N) to rewrite its reference") from err
        finally:
            if self._extracted is not None:  # every fitted object is in memory now
                self._extracted.cleanup()

    def _load(self, root: Path) -> None:
        """Every fitted object the manifest names."""
        batch = self.manifest.get("not_queryable") or {}
        if batch:
            uses = "; ".join(f"{n} uses {', '.join(fs)}" for n, fs in batch.items())
            raise ValueError(f"{self.source}: {uses}: features built from each cell's batch (day, donor), which a "
                             "query's cells do not carry; leave them out of ensemble.models and units.features to "
                             "query this run")
        self.input_names, uns = read_input_space(str(root / self.manifest["inputs"]))
        self.normalize = str(uns.get("normalize", "given"))
        self.idf = np.asarray(uns["idf"], np.float32) if "idf" in uns else None
        specs = self.manifest["families"]  # computed in family_order: a family after those it reads
        self.families = {n: family(n, specs[n], root, self.input_names) for n in self.manifest["family_order"]}
        maps = split_maps(root / self.manifest["split_codecs"])
        self.units = json.loads((root / self.manifest["units"]["metrics"]).read_text())
        self.members = {name: load_member(root / m["fitted"], m["features"], maps, self._shrink(root / m["metrics"]))
                        for name, m in self.manifest["members"].items()}
        weights = json.loads((root / self.manifest["ensemble"]["weights"]).read_text())
        self.weights = np.array([weights[n] for n in self.members])
        self.how = self.manifest["ensemble"]["standardize"]
        if self.how == "matrix":
            raise ValueError(f"{self.source}: the blend standardises by whole-matrix statistics (ensemble.standardize: "
                             "matrix), which depend on the cells predicted; a reference needs row or none")
        self.codec = load_codec(root / self.manifest["codec"])[0]
        self.levels = LevelModel(root / self.manifest["units"]["model"])
        self.unit_features = self.manifest["units"]["features"]
        self._check_columns()

    def _shrink(self, metrics: Path) -> float:
        """A model's own scale in units: its CV Pearson where the blend's scale is shrunk (as in-run scoring)."""
        if self.units["scale"] != "shrunk":
            return 1.0
        return float(np.clip(json.loads(metrics.read_text())["cv_pearson"], 0.0, 1.0))

    @property
    def modality(self) -> str:
        return self.manifest["modality"]

    @property
    def target_names(self) -> np.ndarray:
        return np.asarray(self.codec.target_names)

    def _check_columns(self) -> None:
        """Each model's fitted columns are the families' columns as loaded (the run and its files agree)."""
        for name, m in self.members.items():
            cols = [c for f in m.features for c in self.families[f].columns]
            if cols != m.columns:
                raise ValueError(f"{self.source}: model {name} was fitted on other feature columns than its families "
                                 f"give now ({len(m.columns)} vs {len(cols)}); rerun the training run")

    def match(self, names, source: str, min_share: float) -> FeatureMatch:
        """The query's features onto the run's inputs (one line naming ``source`` when too few match)."""
        return match_features(self.input_names, names, min_share=min_share, source=source)

    def to_inputs(self, block, match: FeatureMatch, normalize: str):
        """A query row chunk in the run's input space: normalised as the run's inputs were, in their columns."""
        if normalize == "tfidf":
            if self.idf is None:
                raise ValueError(f"normalize tfidf needs the run's IDF, and {self.source}'s inputs were not made with "
                                 "tfidf; give the query normalised as the run's inputs were (normalize: none)")
            block = match.apply(counts_per_10k(block))
            return sp.csr_matrix(block @ sp.diags(self.idf)) if sp.issparse(block) else block * self.idf[None, :]
        return match.apply(normalize_block(block, normalize))

    def _chunk(self, block, cells: np.ndarray) -> tuple[dict[str, tuple[np.ndarray, list]], np.ndarray]:
        """One chunk of cells in the run's input space → each member's (fold mean, fold predictions) in codes,
        and each cell's predicted level and scale."""
        chunk = RowChunk(block, np.asarray(cells))
        for name, fam in self.families.items():
            chunk.tables[name] = fam.transform(chunk)
        preds = {n: m.predict(chunk.tables) for n, m in self.members.items()}
        level = self.levels.predict(np.concatenate([chunk.tables[f] for f in self.unit_features], axis=1))
        return preds, level

    def _blend(self, preds: dict[str, tuple[np.ndarray, list]], level: np.ndarray):
        """The members' predictions blended → (X in units, the standardised layer, fold spread)."""
        codes = blend([standardize(mean, self.how) for mean, _ in preds.values()], self.weights)
        n_folds = min(len(folds) for _, folds in preds.values())
        fold_codes = [blend([standardize(folds[k], self.how) for _, folds in preds.values()], self.weights)
                      for k in range(n_folds)]
        return units_block(codes, fold_codes, self.codec, level, self.units["a"])

    def predict_block(self, block, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """One chunk of cells in the run's input space → (X in units, the standardised layer, fold spread)."""
        return self._blend(*self._chunk(block, cells))

    def _member_units(self, preds: dict[str, tuple[np.ndarray, list]], level: np.ndarray) -> dict[str, np.ndarray]:
        """Each member's own predictions in units (as in-run scoring puts each model's test predictions)."""
        return {n: units_block(mean, [], self.codec, level, self.members[n].shrink)[0]
                for n, (mean, _) in preds.items()}

    def _predictions(self, source, normalize: str, match: FeatureMatch, chunk_rows: int, name: str,
                     each: bool = False, progress: bool = False):
        """``(start, stop, X, standardised, fold spread, each model's units or None)`` per row chunk of ``source``."""
        cells, chunks = source.obs_names(), source.iter_rows(chunk_rows)
        if progress:
            from tqdm.auto import tqdm

            chunks = tqdm(chunks, total=-(-len(cells) // chunk_rows), unit="chunk", desc=name)
        for start, stop, block in chunks:
            require_finite(block, source.label, start)
            preds, level = self._chunk(self.to_inputs(block, match, normalize), cells[start:stop])
            X, z, sd = self._blend(preds, level)
            yield start, stop, X, z, sd, (self._member_units(preds, level) if each else None)
            log.info("%s: cells %d-%d of %d predicted", name, start, stop, len(cells))

    def _uns(self, match: FeatureMatch, name: str) -> dict[str, Any]:
        return {"scale": SCALE, "units": {k: self.units[k] for k in ("scale", "a", "oof_rmse")},
                "feature_match": match.summary(), "reference": self.source, "query": name}

    def predict_file(self, query: QueryInput, out_path: str, *, min_share: float = 0.5, chunk_rows: int = 2048,
                     name: str = "query", models_path: str | None = None, layers: Sequence[str] = ("X",),
                     dtype: str = "float32", progress: bool = False) -> int:
        """Predict every cell of ``query`` into ``out_path`` (``.h5ad``, chunk by chunk); return the cell count.

        Parameters
        ----------
        query
            The query's cells (:class:`QueryInput`).
        out_path
            The ``.h5ad`` to write (under a temporary name until complete).
        min_share
            Stop when fewer than this share of the run's input features are found in the query.
        chunk_rows
            Cells predicted at a time (bounds memory).
        name
            The query's name in logs and ``uns['query']``.
        models_path
            Where each blended model's own predictions in units go too (one layer per model; ``X`` the training
            mean profile), for :func:`score_query` to score them beside the blend.
        layers
            What is written: ``X`` (the predictions in the targets' units), ``standardized`` (each cell's profile
            standardised) and ``fold_sd`` (the fold models' spread in units). ``obs['fold_sd_mean']`` is always
            written where the run has several folds.
        dtype
            ``float32`` or ``float16`` for the written layers.
        progress
            Show a progress bar over the row chunks.

        Returns
        -------
        int
            The number of cells predicted.
        """
        _check_layers(layers, dtype)
        source = query.inputs
        cells = source.obs_names()
        match = self.match(source.var_names(), source.label, min_share)
        spread, dtype = np.zeros(len(cells)), np.dtype(dtype)
        with ExitStack() as stack:
            w = stack.enter_context(MatrixWriter(out_path, self.target_names, dtype=dtype,
                                                 uns=self._uns(match, name)))
            each = stack.enter_context(MatrixWriter(models_path, self.target_names)) if models_path else None
            for start, stop, X, z, sd, units in self._predictions(source, query.normalize, match, chunk_rows, name,
                                                                  each=each is not None, progress=progress):
                w.append(_cast(X, dtype, "X"), cells[start:stop])
                for layer, values in (("standardized", z), ("fold_sd", sd)):
                    if layer in layers and values is not None:
                        w.append_layer(layer, _cast(values, dtype, layer))
                if sd is not None:
                    spread[start:stop] = sd.mean(axis=1)
                if each is not None:
                    each.append(np.broadcast_to(self.levels.target_mean, X.shape), cells[start:stop])
                    for n, u in units.items():
                        each.append_layer(n, u)
            if sd is not None:
                w.set_obs(pd.DataFrame({"fold_sd_mean": spread}))
        log.info("%s: %d cells → %s (%d of %d reference features matched, %d missing, %d extra)", name, len(cells),
                 out_path, match.n_matched, match.n_reference, match.n_missing, match.n_extra)
        return len(cells)

    def predict(self, data, *, modality: str | None = None, layer: str | None = None, normalize: str = "none",
                key_added: str | None = None, layers: Sequence[str] = ("X",), dtype: str = "float32",
                min_share: float = 0.5, chunk_rows: int = 2048, progress: bool = False):
        """Predict the cells of an AnnData or MuData in memory (no file written), as the ``query`` rule does.

        Parameters
        ----------
        data
            :class:`anndata.AnnData` of the query cells × input features, or a :class:`mudata.MuData` holding them
            as the modality ``modality``.
        modality
            For a MuData: the modality with the input features (optional where it has only one).
        layer
            ``X`` (default) or a layer of the inputs.
        normalize
            ``none`` (normalised as the run's inputs were), ``log1p_cp10k``, ``clr`` or ``tfidf`` (the run's IDF).
        key_added
            Where given, the predictions go into ``data`` and nothing is returned: for an AnnData,
            ``obsm[key_added]`` (cells × targets; the other ``layers`` as ``obsm[key_added + "_" + layer]``),
            ``uns[key_added]`` (``target_names``, the feature match, the units) and
            ``obs[key_added + "_fold_sd_mean"]``; for a MuData, a new modality ``key_added``.
        layers, dtype
            As in :meth:`predict_file`: the layers of the returned AnnData and their dtype.
        min_share, chunk_rows, progress
            As in :meth:`predict_file`.

        Returns
        -------
        anndata.AnnData or None
            Cells × targets: ``X`` in the targets' units, the chosen layers, ``obs['fold_sd_mean']``, and in
            ``uns`` the feature match and the units; ``None`` where ``key_added`` put them into ``data``.

        Examples
        --------
        >>> model = msci.load_model("liu.msci")                       # doctest: +SKIP
        >>> pred = model.predict(rna, normalize="log1p_cp10k")       # doctest: +SKIP
        >>> model.predict(mdata, modality="rna", key_added="adt_pred", normalize="log1p_cp10k")  # doctest: +SKIP
        """
        _check_layers(layers, dtype)
        adata, label = _query_anndata(data, modality)
        source = InMemorySource(adata, layer, label=label)
        match = self.match(source.var_names(), source.label, min_share)
        out: dict[str, np.ndarray] = {}  # a layer with no values (fold_sd of a one-fold run) is left out
        spread = np.zeros(adata.n_obs)
        for start, stop, X, z, sd, _ in self._predictions(source, normalize, match, chunk_rows, "predict",
                                                            progress=progress):
            for k, v in (("X", X), ("standardized", z), ("fold_sd", sd)):
                if k in layers and v is not None:
                    out.setdefault(k, np.empty((adata.n_obs, v.shape[1]), dtype))[start:stop] = _cast(v, dtype, k)
            if sd is not None:
                spread[start:stop] = sd.mean(axis=1)
        return _deliver(data, adata, out, spread, self.target_names, self._uns(match, "predict"), key_added,
                        has_spread=self.n_folds > 1)

    @property
    def n_folds(self) -> int:
        return min(len(m.folds) for m in self.members.values())


LAYERS = ("X", "standardized", "fold_sd")
DTYPES = ("float32", "float16")


def _check_layers(layers: Sequence[str], dtype: str) -> None:
    """``layers`` among :data:`LAYERS`, with ``X``; ``dtype`` among :data:`DTYPES`."""
    odd = [k for k in layers if k not in LAYERS]
    if odd or "X" not in layers:
        raise ValueError(f"layers {list(layers)}: choose among {', '.join(LAYERS)}, X included")
    if str(dtype) not in DTYPES:
        raise ValueError(f"dtype {dtype}: choose {' or '.join(DTYPES)}")


def _cast(values: np.ndarray, dtype: np.dtype, layer: str) -> np.ndarray:
    """``values`` as ``dtype``; refused (one line) where they exceed its range (float16 ends at 65504)."""
    dtype = np.dtype(dtype)
    if dtype.itemsize < values.dtype.itemsize and values.size:  # only a narrower type can overflow
        top, reach = float(np.finfo(dtype).max), max(float(values.max()), -float(values.min()))
        if reach > top:
            raise ValueError(f"predictions ({layer}) reach {reach:.4g}, beyond {dtype}'s range ({top:.0f}); write "
                             "them as float32 (dtype: float32, --dtype float32)")
    return values.astype(dtype, copy=False)


def _query_anndata(data, modality: str | None):
    """The AnnData of the query's inputs (``data`` itself, or the modality ``modality`` of a MuData), and its
    name in messages."""
    mods = getattr(data, "mod", None)
    if mods is None:
        return data, "the AnnData"
    if modality is None:
        if len(mods) != 1:
            raise ValueError(f"the MuData has modalities {', '.join(mods)}: name the inputs' one (modality=...)")
        modality = next(iter(mods))
    if modality not in mods:
        raise ValueError(f"the MuData has no modality {modality!r}; modalities: {', '.join(mods)}")
    return mods[modality], f"the MuData's modality {modality!r}"


def _deliver(data, adata, out: dict[str, np.ndarray], spread: np.ndarray, target_names, uns: dict,
             key_added: str | None, has_spread: bool):
    """The predictions as a new AnnData, or put into ``data`` under ``key_added`` (obsm/uns/obs, or a modality)."""
    import anndata as ad

    obs = pd.DataFrame({"fold_sd_mean": spread} if has_spread else {}, index=adata.obs_names.copy())
    pred = ad.AnnData(X=out.pop("X", None), obs=obs, var=pd.DataFrame(index=pd.Index(target_names, dtype=str)),
                      layers=out, uns=uns)
    if key_added is None:
        return pred
    if hasattr(data, "mod"):
        data.mod[key_added] = pred
        data.update()
        return None
    data.obsm[key_added] = pred.X
    for layer, values in pred.layers.items():  # the other layers asked for, beside it
        data.obsm[f"{key_added}_{layer}"] = values
    data.uns[key_added] = {**uns, "target_names": np.asarray(target_names, dtype=str)}
    if has_spread:
        data.obs[f"{key_added}_fold_sd_mean"] = spread
    return None


def score_query(predictions_path: str, query: QueryInput, out_path: str, models_path: str | None = None,
                chunk_rows: int = 2048) -> dict:
    """openproblems predict_modality's metrics, on the query's cells that have targets (``query.targets``), of the
    blend (``X``, in units) and, from ``models_path`` (:meth:`Reference.predict_file`), of each model and the
    training mean profile; and whether the fold spread tracks the blend's error. Written as JSON;
    ``{"scored": false}`` without targets."""
    if query.targets is None:
        out = {"scored": False, "reason": "the query names no targets"}
        write_json(out, out_path)
        return out
    pred, source = MatrixFile(predictions_path), query.targets
    col = pd.Index(source.var_names()).get_indexer(pred.var_names)
    if (col < 0).any():
        raise InputError(source.label, f"has no target {pred.var_names[col < 0][0]!r} of the run "
                                       f"({int((col < 0).sum())} of {len(col)} missing)")
    pos = pd.Index(pred.obs_names).get_indexer(source.obs_names())
    if not (pos >= 0).any():
        raise InputError(source.label, "none of its cells is a query cell")

    def pairs_of(f: MatrixFile):
        def pairs():
            for start, stop, block in source.iter_rows(chunk_rows):
                sel = np.flatnonzero(pos[start:stop] >= 0)
                if sel.size:
                    y = as_dense(normalize_block(block, query.target_normalize)[sel], np.float64)[:, col]
                    yield y, np.asarray(f.read_rows(pos[start:stop][sel], chunk_rows), np.float64)
        return pairs

    n = int((pos >= 0).sum())
    field: dict = {"blend": predict_modality_metrics(pairs_of(pred), n, len(col))}
    if models_path:
        field["baseline_mean_profile"] = predict_modality_metrics(pairs_of(MatrixFile(models_path)), n, len(col))
        field["models"] = {m: predict_modality_metrics(pairs_of(MatrixFile(models_path, layer=m)), n, len(col))
                           for m in MatrixFile(models_path).layer_names}
    out = {"scored": True, "n_cells": n, "field_metrics": field}
    with h5py.File(predictions_path, "r") as h5:
        obs = read_elem(h5["obs"])
    if "fold_sd_mean" in obs:
        err = np.concatenate([np.sqrt(((y - p) ** 2).mean(axis=1)) for y, p in pairs_of(pred)()])
        out["fold_sd_vs_error"] = spread_calibration(obs["fold_sd_mean"].to_numpy()[pos[pos >= 0]], err)
    write_json(out, out_path)
    log.info("query score on %d cells: mean per-cell Pearson %.4f, RMSE %.4f (training mean profile: %s)", n,
             field["blend"]["mean_pearson_per_cell"], field["blend"]["rmse"],
             field.get("baseline_mean_profile", {}).get("rmse"))
    return out


def load_model(results: str | os.PathLike) -> Reference:
    """A trained modality as a model, to predict new cells with (nothing refit).

    Parameters
    ----------
    results
        An archive written by ``msci export`` (``NAME.msci``: checked against its model card's versions and
        checksums first) or a finished run's ``results/<modality>`` folder.

    Returns
    -------
    Reference
        With :meth:`Reference.predict` (AnnData/MuData in memory), :meth:`Reference.predict_file` and ``card``
        (the model card, ``None`` for a run folder without one).

    Examples
    --------
    >>> model = msci.load_model("cite.msci")                       # doctest: +SKIP
    >>> pred = model.predict(adata, normalize="log1p_cp10k")      # doctest: +SKIP
    """
    return Reference(results)
