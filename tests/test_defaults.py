"""Defaults of configured values have one home, the schema (workflow/schemas/config.schema.yaml).

A library function that a rule's wrapper calls with configured values takes them without defaults of its own,
or, where tests and bench scripts lean on a default, keeps it and this file proves it equal to the schema's.
Any other defaulted parameter of such a function must be listed as exempt (no configured value), so a new
default cannot slip in unseen.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
from typing import Any

import pytest
import yaml
from conftest import REPO

SCRIPTS = REPO / "workflow" / "scripts"
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def _section(path: str, *keys: str) -> dict[str, str]:
    """Parameters named as the keys of one schema section."""
    return {k: f"{path}.{k}" for k in keys}


# Library default → the schema path it must equal.
DEFAULTS: dict[str, dict[str, str]] = {
    "msci.features.svd.svd_features": {**_section("features.svd", "n_components", "center", "n_iter", "chunk_rows"),
                                       "seed": "seed"},
    "msci.features.svd_chrom.svd_chrom_features": {
        **_section("features.svd_chrom", "n_components", "max_fraction", "contigs", "center", "n_iter", "chunk_rows"),
        "seed": "seed"},
    "msci.features.cell_type.cell_type_features": _section("features.cell_type", "train", "encoding"),
    "msci.target_codes.encode_targets": {**_section("targets", "n_components", "n_iter", "chunk_rows"),
                                         "method": "targets.compress.multi", "seed": "seed"},
    "msci.validation.adversarial.adversarial_validation": {
        **_section("validation.adversarial", "classifier", "n_splits", "threshold", "min_share"), "seed": "seed"},
    "msci.validation.celltype.predict_cell_types": {**_section("validation.cell_type", "classifier", "n_splits"),
                                                    "seed": "seed"},
    "msci.validation.folds.make_folds": {**_section("folds", "strategy", "n_splits", "day_out"), "seed": "seed"},
    "msci.ingest.ingest_modality": _section("ingest", "chunk_rows", "sparse_inputs"),
    "msci.ingest_anndata.ingest_own_data": {**_section("ingest", "chunk_rows", "sparse_inputs"),
                                            "fit_on": "features.fit_on"},
    "msci.ingest_anndata.write_test_targets": {"chunk_rows": "ingest.chunk_rows"},
    "msci.submission.build_submission": {"chunk_rows": "submission.chunk_rows", "external": "ensemble.external"},
    "msci.submission.score_submission": {"chunk_rows": "submission.chunk_rows"},
    "msci.training.train_model": {"seed": "seed", "stop_fraction": "folds.stop_fraction"},
    "msci.simulate.SimulationConfig": _section("demo", "seed", "cite", "multi", "eval_cell_fraction",
                                               "eval_gene_fraction"),
}

# Defaulted parameters that are no configured value: optional inputs and outputs, values the wrapper derives,
# block sizes that no config sets.
EXEMPT: dict[str, set[str]] = {
    "msci.features.svd.svd_features": {"prefix", "fit_mask", "out_fitted"},
    "msci.features.svd_chrom.svd_chrom_features": {"fit_mask", "out_fitted"},
    # bm25 and prefix: what the bm25 family's wrapper sets (its k1 and b come from features.bm25)
    "msci.features.lsi.lsi_features": {"metrics_path", "fit_mask", "out_fitted", "bm25", "prefix"},
    "msci.features.ivis.ivis_features": {"fit_mask", "out_fitted"},
    "msci.features.ivis.fit_ivis": {"model", "fit_mask"},
    "msci.features.genes.genes_features": {"chunk_rows"},
    "msci.io.matrix.MatrixFile": {"layer"},
    "msci.features.qc.qc_features": {"chunk_rows"},
    "msci.ensemble.ensemble_models": {"chunk_rows"},
    "msci.validation.folds.make_folds": {"good_validation"},
    "msci.validation.celltype.predict_cell_types": {"out_fitted"},
    # A query's settings come from its `query:` entry (QueryInput.from_config: the schema's defaults); these
    # defaults serve the Python API (msci.load_model(...).predict).
    "msci.reference.QueryInput": {"normalize", "target_normalize", "targets"},
    "msci.reference.score_query": {"chunk_rows", "models_path"},
    "msci.model_card.build_card": {"repo"},  # the checkout whose commit the card states: the library's own
    "msci.submission.build_submission": {"codecs", "require_all"},
    "msci.submission.score_submission": {"out_path"},
    "msci.training.train_model": {"out_day_out", "threads", "pretrainer", "out_fitted"},
    "msci.tune.tune_worker": {"pretrainer"},  # like train_model's: only TabNet models with pretrain have one
    "msci.predictions.write_predictions": {"config", "chunk_rows"},
    "msci.predictions.score_predictions": {"out_path", "chunk_rows"},
    "msci.report.write_report": {"score_path", "own_data"},
    "msci.simulate.simulate_competition": {"config"},
    "msci.ingest_anndata.check_own_data": {"out_path"},
    "msci.preflight.check_inputs": {"out_path", "require_all", "summary_of"},
}
# Model parameters: the estimators are their home (schemas/model_params.yaml is generated from them).
EXEMPT_FUNCTIONS = {"msci.models.tabnet.pretrain_tabnet"}
# Library functions that receive configured values through a wrapper-called function's **params.
FORWARDED = {"msci.features.ivis.fit_ivis"}


def _resolve(qualname: str) -> Any:
    module, name = qualname.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


def wrapper_called() -> set[str]:
    """Qualified names of the msci functions and classes that the rules' wrapper scripts call."""
    called: set[str] = set()
    for script in SCRIPTS.glob("*.py"):
        tree = ast.parse(script.read_text())
        imported = {a.asname or a.name: f"{node.module}.{a.name}" for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "msci"
                    for a in node.names}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func.value if isinstance(node.func, ast.Attribute) else node.func  # Class.from_dict(…)
                if isinstance(func, ast.Name) and func.id in imported:
                    called.add(imported[func.id])
    return called


def defaulted(qualname: str) -> set[str]:
    """Names of the parameters of a function (or a class's constructor) that have a default."""
    params = inspect.signature(_resolve(qualname)).parameters.values()
    return {p.name for p in params if p.default is not inspect.Parameter.empty}


def library_default(qualname: str, param: str) -> Any:
    """A parameter's default as plain data (a dataclass's default factories run, tuples as lists)."""
    obj = _resolve(qualname)
    if dataclasses.is_dataclass(obj):
        value = getattr(obj(), param)
    else:
        value = inspect.signature(obj).parameters[param].default
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return list(value) if isinstance(value, tuple) else value


def schema_default(path: str) -> Any:
    """The schema's default of a dotted config path (e.g. ``features.svd.n_components``)."""
    node = SCHEMA
    for key in path.split("."):
        node = node["properties"][key]
    return node["default"]


@pytest.mark.parametrize("qualname,param", [(f, p) for f, params in DEFAULTS.items() for p in params])
def test_a_library_default_equals_the_schemas(qualname, param):
    assert library_default(qualname, param) == schema_default(DEFAULTS[qualname][param])


def test_every_default_of_a_wrapper_called_function_is_proven_or_exempt():
    """A new defaulted parameter fails here until it is mapped to the schema (or removed, or shown exempt)."""
    functions = (wrapper_called() | FORWARDED) - EXEMPT_FUNCTIONS
    assert "msci.features.svd.svd_features" in functions and "msci.ensemble.ensemble_models" in functions
    unaccounted = sorted(f"{f}({p})" for f in functions for p in defaulted(f)
                         if p not in DEFAULTS.get(f, {}) and p not in EXEMPT.get(f, set()))
    assert not unaccounted, f"defaults the schema does not vouch for: {unaccounted}"


def test_the_lists_name_only_real_defaulted_parameters():
    """No stale entry: each listed parameter exists and has a default (a removed default leaves the lists too)."""
    stale = sorted(f"{f}({p})" for table in (DEFAULTS, EXEMPT) for f, params in table.items()
                   for p in params if p not in defaulted(f))
    assert not stale
