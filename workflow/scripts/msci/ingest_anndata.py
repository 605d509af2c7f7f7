"""Ingest a modality from the user's own AnnData/MuData into the artifacts competition files give.

The ``input:`` entry names the inputs (all cells) and the targets (at least the training cells);
test cells are the cells of ``test: {column, value}`` or, without it, the input cells that have no
targets. Outputs match :func:`msci.ingest.ingest_modality`: ``cells.parquet`` (train then test),
``inputs.h5ad`` (same order) and ``targets.h5ad`` (training cells). Test cells' targets, when they
exist, go only to :func:`write_test_targets` (scoring), never into anything a model trains on.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from msci.io.anndata_input import AnnDataSource, sources
from msci.io.artifacts import write_json, write_parquet
from msci.io.checks import InputError, require_finite, require_unique
from msci.io.competition import TECHNOLOGY
from msci.io.matrix import MatrixWriter
from msci.normalize import TfIdf, normalize_block

log = logging.getLogger(__name__)
OBS_KEYS = ("day", "donor", "cell_type")


@dataclass
class OwnData:
    """One modality's cells, split and file positions, checked."""

    inputs: AnnDataSource
    targets: AnnDataSource
    cells: pd.DataFrame          # train then test, index cell_id
    train_rows: np.ndarray       # positions of training cells in the inputs file
    test_rows: np.ndarray        # positions of test cells in the inputs file
    target_train: np.ndarray     # bool per targets row: a training cell
    target_test: np.ndarray      # bool per targets row: a test cell (scored, never trained on)
    input_names: np.ndarray
    target_names: np.ndarray
    input_cells: np.ndarray      # cell names of the inputs file, in file order
    target_cells: np.ndarray     # cell names of the targets file, in file order


def _natural(label: str) -> list:
    """Sort key that orders the numbers inside labels by value (``d2`` before ``d10``)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", label)]


def _day(values: pd.Series, label: str) -> np.ndarray:
    """Numeric days as they are; other labels (``s1d1``, ``d2``, ``d10``) numbered in natural order."""
    as_num = pd.to_numeric(values, errors="coerce")
    if not as_num.isna().any():
        return as_num.to_numpy(np.float64)
    if values.isna().any():
        raise InputError(label, f"obs column {values.name!r} (day) has missing values")
    levels = sorted(values.astype(str).unique(), key=_natural)
    log.info("%s: day labels %s numbered %s in that order", label, levels, list(range(len(levels))))
    return pd.Index(levels).get_indexer(values.astype(str)).astype(np.float64)


def _equals(column: pd.Series, value) -> np.ndarray:
    """Cells whose ``column`` equals the configured ``value``: numbers compared as numbers (a float
    column holds ``1.0`` where the config says ``1``), booleans and labels as text."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (pd.to_numeric(column, errors="coerce") == value).to_numpy()
    return (column.astype(str).str.lower() == str(value).lower()).to_numpy() if isinstance(value, bool) \
        else (column.astype(str) == str(value)).to_numpy()


def _labels(column: pd.Series) -> np.ndarray:
    """Annotation labels as text; missing ones (NaN) are ``unknown``, not the string ``nan``."""
    return column.astype(object).where(column.notna(), "unknown").astype(str).to_numpy()


def _with_global_obs(source: AnnDataSource, obs: pd.DataFrame, wanted: list[str]) -> pd.DataFrame:
    """A MuData modality's ``obs``, completed by the file's global ``obs`` for columns only it holds."""
    missing = [c for c in wanted if c not in obs.columns]
    if not missing or source.mod is None:
        return obs
    shared = AnnDataSource(source.path).obs()
    for c in missing:
        if c in shared.columns:
            obs[c] = shared[c].reindex(obs.index).to_numpy()
    return obs


def plan(modality: str, spec: dict) -> OwnData:
    """Read names and annotations (no matrix values) and check that they fit together."""
    inputs, targets = sources(spec)
    obs = inputs.obs()
    n_in, p = inputs.shape()
    n_tg, g = targets.shape()
    if len(obs) != n_in:
        raise inputs.error(f"obs has {len(obs)} rows, {inputs.layer} {n_in}")
    in_cells = obs.index.to_numpy(dtype=object)
    tg_cells = targets.obs_names()
    input_names, target_names = inputs.var_names(), targets.var_names()
    require_unique(in_cells, inputs.label, "cell names")
    require_unique(tg_cells, targets.label, "cell names")
    require_unique(input_names, inputs.label, "feature names")
    require_unique(target_names, targets.label, "target names")
    mapping = dict(spec.get("obs") or {})
    test_spec = spec.get("test")
    wanted = [*mapping.values(), *([test_spec["column"]] if test_spec else [])]
    obs = _with_global_obs(inputs, obs, wanted)
    missing = [c for c in wanted if c not in obs.columns]
    if missing:
        raise inputs.error(f"obs has no column {', '.join(map(repr, missing))}; "
                           f"columns: {', '.join(map(str, obs.columns)) or 'none'}")

    has_targets = pd.Index(tg_cells).get_indexer(in_cells) >= 0
    unknown = ~pd.Index(tg_cells).isin(in_cells)
    if not has_targets.any():
        raise targets.error(f"no cell has targets: its {len(tg_cells)} cell names match none of the "
                            f"{len(in_cells)} of {inputs.label} (e.g. {tg_cells[0]!r} vs {in_cells[0]!r})")
    if unknown.any():
        raise targets.error(f"{int(unknown.sum())} cell name(s) are not cells of {inputs.label}, "
                            f"e.g. {tg_cells[np.flatnonzero(unknown)[0]]!r}")
    if test_spec:
        is_test = _equals(obs[test_spec["column"]], test_spec["value"])
        if not is_test.any():
            raise inputs.error(f"no cell has obs[{test_spec['column']!r}] == {test_spec['value']!r}; "
                               f"values: {', '.join(map(str, pd.unique(obs[test_spec['column']].astype(str))[:10]))}")
        lacking = ~is_test & ~has_targets
        if lacking.all() or not (~is_test).any():
            raise targets.error("targets missing for all training cells")
        if lacking.any():
            raise targets.error(f"{int(lacking.sum())} training cell(s) have no targets, e.g. "
                                f"{in_cells[np.flatnonzero(lacking)[0]]!r} (mark them as test cells or drop them)")
    else:
        is_test = ~has_targets
        if not is_test.any():
            raise inputs.error("no test cells: every cell has targets; name them with "
                               "input.<modality>.test: {column, value}")
    train_rows, test_rows = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    order = np.concatenate([train_rows, test_rows])
    ann = obs.iloc[order]
    cells = pd.DataFrame(index=pd.Index(in_cells[order], name="cell_id"))
    cells["split"] = np.repeat(["train", "test"], [len(train_rows), len(test_rows)])
    cells["day"] = _day(ann[mapping["day"]], inputs.label) if "day" in mapping else 0.0
    cells["donor"] = _labels(ann[mapping["donor"]]) if "donor" in mapping else "unknown"
    cells["cell_type"] = _labels(ann[mapping["cell_type"]]) if "cell_type" in mapping else "unknown"
    cells["technology"] = TECHNOLOGY[modality]
    train_set = pd.Index(in_cells[train_rows])
    target_train = train_set.get_indexer(tg_cells) >= 0
    target_test = ~target_train
    log.info("%s: %d train + %d test cells (%d with targets, scored only), %d inputs (%s %s), %d targets (%s)",
             modality, len(train_rows), len(test_rows), int(target_test.sum()), p, inputs.label, inputs.layer,
             g, targets.label)
    return OwnData(inputs, targets, cells, train_rows, test_rows, target_train, target_test,
                   input_names, target_names, in_cells, tg_cells)


def check_own_data(modality: str, spec: dict, out_path: str | None = None) -> dict:
    """The checks of :func:`plan` as a rule: a summary of what ingest will read."""
    data = plan(modality, spec)
    summary = {modality: {
        "inputs": data.inputs.label, "targets": data.targets.label,
        "n_train": int((data.cells["split"] == "train").sum()), "n_test": int((data.cells["split"] == "test").sum()),
        "n_test_with_targets": int(data.target_test.sum()),
        "n_inputs": len(data.input_names), "n_targets": len(data.target_names),
        "n_days": int(data.cells["day"].nunique()), "n_cell_types": int(data.cells["cell_type"].nunique()),
    }}
    if out_path:
        write_json(summary, out_path)
    return summary


def _checked(block, source: AnnDataSource, start: int, normalize: str, setting: str = "normalize"):
    require_finite(block, source.label, start)
    if normalize != "none":
        values = block.data if sp.issparse(block) else block
        if (values < 0).any():
            raise source.error(f"negative values in rows {start}..{start + block.shape[0] - 1}: "
                                f"{setting} {normalize} expects counts")
    return block


def _copy(source: AnnDataSource, keep: np.ndarray, names: np.ndarray, writer: MatrixWriter, chunk_rows: int,
          normalize: str = "none", tfidf: TfIdf | None = None, setting: str = "normalize") -> None:
    """Rows of ``source`` where ``keep`` (a bool mask in file order), normalised, appended to ``writer``."""
    for start, stop, block in source.iter_rows(chunk_rows):
        sel = np.flatnonzero(keep[start:stop])
        if sel.size:
            block = _checked(block, source, start, normalize, setting)[sel]
            writer.append(normalize_block(block, normalize, tfidf), names[start:stop][sel])
        log.info("%s: rows %d-%d of %d", source.label, start, stop, len(keep))


def ingest_own_data(modality: str, spec: dict, out_cells: str, out_inputs: str, out_targets: str,
                    chunk_rows: int = 1000, sparse_inputs: bool = True, fit_on: str = "all") -> pd.DataFrame:
    """Check and copy one modality's own data into workflow artifacts; return the cells."""
    data = plan(modality, spec)
    normalize, target_normalize = spec.get("normalize", "none"), spec.get("target_normalize", "none")
    in_cells, tg_cells = data.input_cells, data.target_cells
    n_in = len(in_cells)
    train_mask = np.zeros(n_in, bool)
    train_mask[data.train_rows] = True
    tfidf = None
    if normalize == "tfidf":  # peak totals over the cells unsupervised steps fit on (features.fit_on)
        tfidf = TfIdf()
        fit_mask = train_mask if fit_on == "train" else np.ones(n_in, bool)
        for start, stop, block in data.inputs.iter_rows(chunk_rows):
            block = _checked(block, data.inputs, start, normalize)
            tfidf.partial_fit(block[np.flatnonzero(fit_mask[start:stop])])
    try:
        with MatrixWriter(out_targets, data.target_names, sparse=False) as w:
            _copy(data.targets, data.target_train, tg_cells, w, chunk_rows, target_normalize,
                  setting="target_normalize")
        uns = {"normalize": normalize, **({"idf": tfidf.idf_} if tfidf is not None else {})}
        with MatrixWriter(out_inputs, data.input_names, sparse=sparse_inputs, uns=uns) as w:
            _copy(data.inputs, train_mask, in_cells, w, chunk_rows, normalize, tfidf)
            _copy(data.inputs, ~train_mask, in_cells, w, chunk_rows, normalize, tfidf)
        write_parquet(data.cells, out_cells)
    except BaseException:
        for path in (out_targets, out_inputs, out_cells):  # no artifact of a failed ingest survives
            if os.path.exists(path):
                os.remove(path)
        raise
    return data.cells


def write_test_targets(modality: str, spec: dict, out_path: str, chunk_rows: int = 1000) -> int:
    """The test cells' own targets (for scoring only), with their annotated ``cell_type`` in ``obs``."""
    data = plan(modality, spec)
    tg_cells = data.target_cells
    with MatrixWriter(out_path, data.target_names, sparse=False) as w:
        _copy(data.targets, data.target_test, tg_cells, w, chunk_rows, spec.get("target_normalize", "none"),
              setting="target_normalize")
        kept = tg_cells[data.target_test]
        w.set_obs(pd.DataFrame({"cell_type": data.cells.loc[kept, "cell_type"].to_numpy()}))
    if not data.target_test.any():
        log.warning("%s: no test cell has targets; nothing to score", modality)
    return int(data.target_test.sum())
