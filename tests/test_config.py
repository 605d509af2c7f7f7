"""Config mistakes stop the run at DAG build (before any job), naming the key; defaults live in the schema."""

from __future__ import annotations

import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_snakemake

from msci.models.registry import parameter_defaults, schema_text

MISTAKES = [
    ({"ensemble": {"n_trails": 50}}, "'n_trails' was unexpected"),
    ({"folds": {"n_split": 5}}, "'n_split' was unexpected"),
    ({"targets": {"compress": {"multi": "pca"}}}, "'pca' is not one of"),
    ({"features": {"svd": {"n_componets": 3}}}, "'n_componets' was unexpected"),
    ({"models": {"ridge": {"type": "ridge", "params": {"alhpa": 1.0}}}},
     "models.ridge.params: unknown parameter(s) alhpa for type ridge; valid: alpha"),
    ({"models": {"mlp": {"modality_params": {"multi": {"hidden_sise": 8}}}}},
     "models.mlp.modality_params.multi: unknown parameter(s) hidden_sise"),
    ({"models": {"mlp": {"params": {"channels": [8, 16]}}}},
     "models.mlp.params: unknown parameter(s) channels for type mlp"),
    ({"models": {"tabnet": {"type": "tabnet", "pretrain": {"epoks": 3}}}},
     "models.tabnet.pretrain: unknown parameter(s) epoks"),
    ({"models": {"ridge": {"type": "lasso"}}}, "models.ridge.type: unknown model type 'lasso'; known: cnn1d, knn"),
    ({"models": {"ridge": {"features": ["svd", "pca"]}}},
     "models.ridge.features: unknown feature family pca; valid: svd, svd_chrom"),
    ({"ensemble": {"models": ["ridge", "nope"]}}, "ensemble.models names unknown model(s) nope; configured: krr, mlp"),
    ({"ensemble": {"fit_on": "day_out"}, "folds": {"day_out": False}},
     "ensemble.fit_on is day_out, but folds.day_out is false"),
    ({"ensemble": {"method": "fixed"}}, "ensemble.method fixed needs a positive weight in ensemble.weights for a "),
    ({"ensemble": {"method": "fixed", "weights": {"resnet": 1}}}, "for a multi model (blended: krr, mlp, ridge)"),
    ({"ensemble": {"method": "fixed", "weights": {"rigde": 1}}}, "ensemble.weights names unknown model(s) rigde"),
    ({"input": {"cite": {"format": "anndata", "inputs": "a.h5ad", "targets": "b.h5ad"}}},
     "input has no entry for modality multi; add one, or set modalities: [cite]"),
    ({"input": {"cite": {"format": "h5ad", "inputs": "a.h5ad", "targets": "b.h5ad"}}}, "'h5ad' is not one of"),
    ({"input": {"multi": {"format": "mudata", "inputs": "atac", "targets": "rna"}}, "modalities": ["multi"]},
     "'path' is a required property"),
    ({"input": {"cite": {"format": "anndata", "inputs": "a.h5ad", "targets": "b.h5ad", "normalise": "tfidf"}},
      "modalities": ["cite"]}, "'normalise' was unexpected"),
    ({"input": {"cite": {"format": "anndata", "inputs": "a.h5ad", "targets": "b.h5ad"}}, "modalities": ["cite"],
      "data_dir": "comp"}, "give either data_dir (competition files) or input (your own data), not both"),
    ({"input": {"cite": {"format": "anndata", "inputs": "a.h5ad", "targets": "b.h5ad"}}, "modalities": ["cite"],
      "ensemble": {"external": [{"path": "other.csv", "weight": 1}]}}, "an own-data run (input:) has none"),
    ({"tune": {"models": {"mpl": {"lr": {"low": 0.001, "high": 0.01}}}}},
     "tune.models.mpl: no such model; configured: krr, mlp, resnet, ridge"),
    ({"tune": {"models": {"mlp": {"learning_rate": {"low": 0.001, "high": 0.01}}}}},
     "tune.models.mlp: unknown parameter(s) learning_rate for type mlp; valid: "),
    ({"tune": {"models": {"mlp": {"lr": {"low": 0.01, "high": 0.001}}}}}, "tune.models.mlp.lr: low must be below high"),
    ({"tune": {"models": {"mlp": {"lr": {"low": 0.0, "high": 0.1, "log": True}}}}},
     "tune.models.mlp.lr: a log range needs low > 0"),
    ({"tune": {"models": {"mlp": {"dropout": {"lo": 0.0, "high": 0.5}}}}}, "is not valid under any of the given"),
    ({"tune": {"n_trails": 5}}, "'n_trails' was unexpected"),
    ({"tune": {"models": {"mlp": {"lr": {"low": 0.001, "high": 0.01, "log": True, "step": 0.001}}}}},
     "tune.models.mlp.lr: give step or log, not both"),
    ({"models": {"mlp": {"params_from": "tune"}}}, "models.mlp.params_from is tune, but tune.models has no mlp entry"),
]


@pytest.fixture(scope="module")
def mistake_runs(tmp_path_factory) -> list[tuple[Path, subprocess.CompletedProcess]]:
    """Each mistake's dry run in a folder of its own, all started together: each is seconds of DAG build."""
    folders = [tmp_path_factory.mktemp("mistake") for _ in MISTAKES]  # made here: mktemp is not thread-safe

    def dry(folder: Path, override: dict) -> tuple[Path, subprocess.CompletedProcess]:
        path = folder / "bad.yaml"
        path.write_text(yaml.safe_dump(override))
        return folder, run_snakemake(folder, "--configfile", str(path), "-n", check=False)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as pool:
        return list(pool.map(dry, folders, [override for override, _ in MISTAKES]))


@pytest.mark.parametrize(("override", "message"), MISTAKES)
def test_config_mistake_fails_at_dag_build_naming_it(mistake_runs, override, message):
    folder, proc = mistake_runs[MISTAKES.index((override, message))]
    assert yaml.safe_load((folder / "bad.yaml").read_text()) == override
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
    assert not (folder / "results").exists() and not (folder / "resources").exists()


def test_fixed_weights_for_some_models_of_each_modality_pass(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump({"ensemble": {"method": "fixed", "weights": {"ridge": 1, "mlp": 2}}}))
    proc = run_snakemake(tmp_path, "--configfile", str(path), "-n")
    assert "ensemble" in proc.stdout


def test_generated_model_parameter_schema_is_current():
    """Every type's parameters with their defaults, as the estimators have them now."""
    assert (REPO / "workflow" / "schemas" / "model_params.yaml").read_text() == schema_text(), "run `make schemas`"


@pytest.mark.parametrize("config_file", ["config.yaml", "optional_models.yaml"])
def test_model_entries_set_only_parameters_that_differ_from_their_types_defaults(config_file):
    """Model defaults have one home, the estimators (model_params.yaml): a shipped config restates none."""
    defaults = parameter_defaults()
    for name, entry in yaml.safe_load((REPO / config_file).read_text())["models"].items():
        own, params = defaults[entry["type"]], entry.get("params") or {}
        sections = {"params": (params, own["params"]),
                    "pretrain": (entry.get("pretrain") or {}, own.get("pretrain", {}))}
        for m, values in (entry.get("modality_params") or {}).items():  # against the model's own params
            sections[f"modality_params.{m}"] = (values, {**own["params"], **params})
        for section, (values, default) in sections.items():
            repeated = sorted(k for k, v in values.items() if k in default and v == default[k])
            assert not repeated, f"{config_file}: models.{name}.{section} repeats the default of {repeated}"


def test_config_yaml_holds_only_the_data_the_seed_and_the_models():
    """Defaults have one home, the schema: config.yaml restates none of the option sections."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    assert set(config) == {"data_dir", "modalities", "seed", "models"}
