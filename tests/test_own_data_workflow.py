"""End-to-end runs on own data: an AnnData pair (CITE) and a MuData file (Multiome) in, predictions.h5ad
and score.json out; and, when MSCI_REAL_DATA points at the shared real data, a run on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from conftest import REPO, run_snakemake, workflow_with_models

pytestmark = pytest.mark.slow


def latent_counts(n: int, p: int, g: int, seed: int) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Counts driven by a few latent factors per cell, targets from the same factors, and cell types."""
    rng = np.random.default_rng(seed)
    types = rng.integers(0, 4, n)
    z = rng.normal(size=(4, 5))[types] + 0.5 * rng.normal(size=(n, 5))
    counts = rng.poisson(np.exp(z @ rng.normal(scale=0.6, size=(5, p)) - 1.0)).astype(np.float32)
    targets = (z @ rng.normal(size=(5, g)) + 0.3 * rng.normal(size=(n, g))).astype(np.float32)
    return sp.csr_matrix(counts), targets, np.array(["T", "B", "NK", "Mono"])[types]


def write_own_data(root: Path, seed: int = 0) -> dict:
    """An RNA/ADT AnnData pair split by obs column and a MuData (ATAC peaks → RNA) split by missing targets."""
    import mudata as md

    md.set_options(pull_on_update=False)
    n = 300
    X, Y, types = latent_counts(n, 120, 10, seed)
    cells = [f"c{i}" for i in range(n)]
    obs = pd.DataFrame({"batch": np.where(np.arange(n) < 200, "d1", "d2"), "cell_type": types}, index=cells)
    ad.AnnData(X, obs=obs, var=pd.DataFrame(index=[f"G{j}" for j in range(120)])).write_h5ad(root / "rna.h5ad")
    ad.AnnData(Y, obs=pd.DataFrame(index=cells), var=pd.DataFrame(index=[f"CD{j}" for j in range(10)])
               ).write_h5ad(root / "adt.h5ad")
    peaks = [f"chr{1 + j % 3}:{1000 * j}-{1000 * j + 500}" for j in range(150)]
    A, R, _ = latent_counts(n, 150, 30, seed + 1)
    atac = ad.AnnData(A, obs=pd.DataFrame(index=cells), var=pd.DataFrame(index=peaks))
    rna = ad.AnnData(sp.csr_matrix(np.maximum(R, 0)), obs=pd.DataFrame(index=cells),
                     var=pd.DataFrame(index=[f"GENE{j}" for j in range(30)]))
    md.MuData({"atac": atac, "rna": rna[:220].copy()}).write(root / "multiome.h5mu")
    return {
        "modalities": ["cite", "multi"],
        "input": {
            "cite": {"format": "anndata", "inputs": str(root / "rna.h5ad"), "targets": str(root / "adt.h5ad"),
                     "normalize": "log1p_cp10k", "test": {"column": "batch", "value": "d2"},
                     "obs": {"day": "batch", "cell_type": "cell_type"}},
            "multi": {"format": "mudata", "path": str(root / "multiome.h5mu"), "inputs": "atac", "targets": "rna",
                      "normalize": "tfidf"},
        },
    }


def test_own_anndata_and_mudata_run_to_predictions_and_a_score_with_test_targets_kept_out(tmp_path):
    config = write_own_data(tmp_path)
    (tmp_path / "own.yaml").write_text(yaml.safe_dump(config))
    snakefile, tiny = workflow_with_models(tmp_path, ("ridge", "mlp"))
    run_snakemake(tmp_path, "-s", str(snakefile), "--configfile", str(tiny), str(tmp_path / "own.yaml"))
    results = tmp_path / "results"
    assert not (results / "submission.csv").exists()
    cite = ad.read_h5ad(results / "cite" / "predictions.h5ad")
    assert cite.shape == (100, 10) and list(cite.obs_names) == [f"c{i}" for i in range(200, 300)]
    assert cite.uns["weights"] and cite.uns["units"]["scale"] in ("full", "shrunk")
    # X in the targets' units; the per-cell standardised blend kept as a layer.
    np.testing.assert_allclose(cite.layers["standardized"].std(axis=1), 1, atol=1e-3)
    truth = ad.read_h5ad(tmp_path / "adt.h5ad")[cite.obs_names].X
    rmse = lambda p: float(np.sqrt(((truth - p) ** 2).mean()))  # noqa: E731
    assert rmse(cite.X) < rmse(cite.layers["standardized"])
    # The spread of the fold models, in units: per cell and target, and its per-cell mean.
    assert cite.layers["fold_sd"].shape == cite.shape and (cite.obs["fold_sd_mean"] > 0).all()
    from msci.io.matrix import MatrixFile

    assert MatrixFile(results / "cite" / "models" / "ridge" / "test.h5ad").layer_names == ["fold_0", "fold_1", "fold_2"]
    multi = ad.read_h5ad(results / "multi" / "predictions.h5ad")
    assert multi.shape == (80, 30) and list(multi.obs_names) == [f"c{i}" for i in range(220, 300)]
    # Training saw only training cells' targets.
    assert set(MatrixFile(results / "cite" / "ingest" / "targets.h5ad").obs_names) == {f"c{i}" for i in range(200)}
    # CITE's test cells have targets (the obs-column split): scored, ridge and the blend beat one mean profile.
    score = json.loads((results / "score.json").read_text())
    assert set(score) == {"cite"} and score["cite"]["n_cells"] == 100
    assert score["cite"]["models"]["ridge"] > score["cite"]["baseline_mean_profile"]
    assert score["cite"]["pearson"] > score["cite"]["baseline_mean_profile"]
    # The field's metrics, in units: the blend's error below the mean profile's.
    field = score["cite"]["field_metrics"]
    assert set(field["models"]) == {"ridge", "mlp"}
    assert field["blend"]["rmse"] < field["baseline_mean_profile"]["rmse"]
    assert field["blend"]["mean_pearson_per_cell"] == pytest.approx(score["cite"]["pearson"], abs=1e-6)
    assert (results / "cite" / "units" / "level_model.npz").exists()
    assert score["cite"]["fold_sd_vs_error"]["n_cells"] == 100
    assert set(score["cite"]["by_cell_type"]) == {"T", "B", "NK", "Mono"}
    report = (results / "report" / "index.html").read_text()
    assert "Score on the test cells' own targets" in report and "<th>rmse</th>" in report
    cells = pd.read_parquet(results / "cite" / "ingest" / "cells.parquet")
    assert sorted(cells["day"].unique()) == [0, 1]


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """The shared real subsets (MSCI_REAL_DATA) run with ridge as bench/own_data.py configures them: CITE trained
    on donor s1d1, its test cells donor s1d2."""
    if not os.environ.get("MSCI_REAL_DATA"):
        pytest.skip("MSCI_REAL_DATA is not set")
    import importlib.util

    # The configuration bench/own_data.py measures the README's table with.
    spec = importlib.util.spec_from_file_location("own_data_bench", REPO / "bench" / "own_data.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    run = tmp_path_factory.mktemp("real")
    config = bench.write_config(Path(os.environ["MSCI_REAL_DATA"]), run, seed=0)
    snakefile, tiny = workflow_with_models(run, ("ridge",))
    configs = ["-s", str(snakefile), "--configfile", str(tiny), str(config)]
    run_snakemake(run, *configs)
    return run, configs


def test_real_cite_and_multiome_subsets_beat_the_mean_profile(real_run):
    run, _ = real_run
    score = json.loads((run / "results" / "score.json").read_text())
    assert score["cite"]["n_cells"] == 289
    for m in ("cite", "multi"):
        assert score[m]["models"]["ridge"] > score[m]["baseline_mean_profile"] + 0.05, score[m]


@pytest.fixture(scope="module")
def real_query(real_run):
    """Donor s1d2 of the real CITE subset as a query file (with its targets) of the run trained on s1d1."""
    run, configs = real_run
    split = Path(os.environ["MSCI_REAL_DATA"]) / "neurips2021_bmmc_cite_starter" / "predict_split"
    (run / "query.yaml").write_text(yaml.safe_dump({"query": {"s1d2": {
        "modality": "cite", "inputs": str(split / "cite_starter.test_mod1.h5ad"),
        "targets": str(split / "cite_starter.test_mod2.h5ad")}}}))
    run_snakemake(run, *configs, str(run / "query.yaml"), "--", "query")
    return run, split


def test_real_cite_donor_s1d2_queried_as_a_separate_file_scores_as_well_as_in_run(real_query):
    run, _ = real_query
    query = json.loads((run / "results/cite/query/s1d2/score.json").read_text())["field_metrics"]["blend"]
    in_run = json.loads((run / "results" / "score.json").read_text())["cite"]["field_metrics"]["blend"]
    assert query["mean_pearson_per_cell"] >= in_run["mean_pearson_per_cell"] - 1e-4, (query, in_run)
    assert query["mean_pearson_per_gene"] >= in_run["mean_pearson_per_gene"] - 1e-4, (query, in_run)
    assert query["rmse"] <= in_run["rmse"] + 1e-4, (query, in_run)


def test_msci_predict_from_a_shell_on_real_s1d2_prints_the_match_and_writes_the_query_rules_file(real_query, tmp_path):
    run, split = real_query
    msci = Path(sys.executable).parent / "msci"
    exported = subprocess.run([msci, "export", run / "results/cite", "-o", tmp_path / "cite.msci"],
                              capture_output=True, text=True, timeout=600)
    assert exported.returncode == 0, exported.stderr
    proc = subprocess.run([msci, "predict", tmp_path / "cite.msci", split / "cite_starter.test_mod1.h5ad", "-o",
                           tmp_path / "s1d2.h5ad", "--name", "s1d2", "--targets", split / "cite_starter.test_mod2.h5ad",
                           "--score", tmp_path / "score.json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1000 of 1000 reference features matched" in proc.stderr and "289 cells predicted" in proc.stdout
    got, rule = ad.read_h5ad(tmp_path / "s1d2.h5ad"), ad.read_h5ad(run / "results/cite/query/s1d2/predictions.h5ad")
    np.testing.assert_array_equal(got.X, rule.X)
    pd.testing.assert_frame_equal(got.obs, rule.obs)
    assert list(got.var_names) == list(rule.var_names) and set(got.layers) == set(rule.layers)
    assert json.loads((tmp_path / "score.json").read_text()) == \
        json.loads((run / "results/cite/query/s1d2/score.json").read_text())
