"""A finished run predicts new cells (config `query:`, target `query`; msci.load_model) without refitting."""

from __future__ import annotations

import shutil

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from conftest import REPO, run_snakemake
from test_workflow import planned_jobs

from msci.predictions import ScoreFiles, score_predictions, write_predictions
from msci.reference import load_model

pytestmark = pytest.mark.slow
TINY = str(REPO / "tests" / "tiny.yaml")
N_EXTRA = 5


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The tiny workflow (every model type) trained with unsupervised features fit on training cells only, and the
    files of its queries: its own test cells (CITE's with their hidden targets), and them again with genes
    shuffled, 10 % missing and extra ones."""
    run = tmp_path_factory.mktemp("query_run")
    (run / "train.yaml").write_text("features: {fit_on: train}\n")
    run_snakemake(run, "--configfile", TINY, str(run / "train.yaml"))
    queries = {}
    for m in ("cite", "multi"):
        cells = pd.read_parquet(run / f"results/{m}/ingest/cells.parquet")
        inputs = ad.read_h5ad(run / f"results/{m}/ingest/inputs.h5ad")
        own = inputs[cells.index[cells["split"] == "test"]].copy()
        own.write_h5ad(run / f"own_{m}.h5ad")
        queries[f"own_{m}"] = {"modality": m, "inputs": str(run / f"own_{m}.h5ad")}
    hidden = pd.read_hdf(run / "resources/demo/hidden/test_cite_targets.h5")
    ad.AnnData(hidden.to_numpy(np.float32), obs=pd.DataFrame(index=hidden.index.astype(str)),
               var=pd.DataFrame(index=hidden.columns.astype(str))).write_h5ad(run / "own_cite_targets.h5ad")
    queries["own_cite"]["targets"] = str(run / "own_cite_targets.h5ad")
    own = ad.read_h5ad(run / "own_cite.h5ad")
    keep = np.random.default_rng(1).permutation(own.n_vars)[: int(0.9 * own.n_vars)]
    extra = ad.AnnData(sp.random(own.n_obs, N_EXTRA, density=0.3, format="csr", dtype=np.float32, random_state=2))
    extra.obs_names, extra.var_names = own.obs_names, [f"NOT_A_GENE_{i}" for i in range(N_EXTRA)]
    shuffled = ad.concat([own[:, keep], extra], axis=1)
    shuffled.write_h5ad(run / "shuffled.h5ad")
    queries["shuffled"] = {"modality": "cite", "inputs": str(run / "shuffled.h5ad")}
    (run / "query.yaml").write_text(yaml.safe_dump({"query": queries}))
    return run


def _configs(run, *extra) -> list[str]:
    return ["--configfile", TINY, str(run / "train.yaml"), str(run / "query.yaml"), *extra]


@pytest.fixture(scope="module")
def queried(trained):
    """The `query` target run once, after a dry run of it."""
    dry = planned_jobs(run_snakemake(trained, "-n", *_configs(trained), "--", "query").stdout)
    run_snakemake(trained, *_configs(trained), "--", "query")
    return trained, dry


def test_a_dry_run_of_query_on_a_finished_run_plans_only_query_jobs(queried):
    _, dry = queried
    assert dry == {"query_predictions": 3, "query": 1}


@pytest.mark.parametrize("modality", ["cite", "multi"])
def test_querying_the_runs_own_test_cells_gives_its_test_predictions(queried, modality, tmp_path):
    run, _ = queried
    res = run / "results" / modality
    write_predictions(str(res / "ensemble/test.h5ad"), str(res / "targets/codec.npz"),
                      str(res / "ensemble/weights.json"), str(res / "units/levels.parquet"),
                      str(res / "units/metrics.json"), str(tmp_path / "in_run.h5ad"))
    in_run = ad.read_h5ad(tmp_path / "in_run.h5ad")
    query = ad.read_h5ad(res / f"query/own_{modality}/predictions.h5ad")
    assert list(query.obs_names) == list(in_run.obs_names)
    assert list(query.var_names) == list(in_run.var_names)
    assert np.abs(query.layers["standardized"] - in_run.layers["standardized"]).max() <= 1e-5
    assert np.abs(query.X - in_run.X).max() <= 1e-4
    assert np.abs(query.layers["fold_sd"] - in_run.layers["fold_sd"]).max() <= 1e-4


def test_a_query_with_shuffled_missing_and_extra_genes_runs_and_counts_them(queried):
    run, _ = queried
    out = ad.read_h5ad(run / "results/cite/query/shuffled/predictions.h5ad")
    n_ref = ad.read_h5ad(run / "own_cite.h5ad", backed="r").n_vars
    counts = out.uns["feature_match"]
    assert counts["n_reference"] == n_ref and counts["n_missing"] == n_ref - int(0.9 * n_ref)
    assert counts["n_extra"] == N_EXTRA and counts["n_matched"] == int(0.9 * n_ref)
    assert np.isfinite(out.X).all() and out.n_obs == len(pd.read_parquet(run / "results/cite/ingest/cells.parquet")
                                                         .query("split == 'test'"))
    log = (run / "logs/query/cite/shuffled.log").read_text()
    assert f"{n_ref - int(0.9 * n_ref)} missing (zero), {N_EXTRA} extra (dropped)" in log


def test_a_query_with_targets_scores_blend_models_and_baseline_as_the_in_run_scoring_does(queried, tmp_path):
    run, _ = queried
    res = run / "results/cite"
    write_predictions(str(res / "ensemble/test.h5ad"), str(res / "targets/codec.npz"),
                      str(res / "ensemble/weights.json"), str(res / "units/levels.parquet"),
                      str(res / "units/metrics.json"), str(tmp_path / "in_run.h5ad"))
    models = sorted(yaml.safe_load((res / "reference.json").read_text())["members"])
    files = ScoreFiles(str(tmp_path / "in_run.h5ad"), str(run / "own_cite_targets.h5ad"),
                       str(res / "targets/codec.npz"), str(res / "units/level_model.npz"),
                       str(res / "units/levels.parquet"), str(res / "units/metrics.json"),
                       {n: str(res / f"models/{n}/test.h5ad") for n in models},
                       {n: str(res / f"models/{n}/metrics.json") for n in models})
    in_run = score_predictions({"cite": files})["cite"]["field_metrics"]
    score = yaml.safe_load((res / "query/own_cite/score.json").read_text())
    field = score["field_metrics"]
    assert score["scored"] and score["n_cells"] == ad.read_h5ad(run / "own_cite.h5ad", backed="r").n_obs
    assert set(field["models"]) == set(models) and len(models) >= 2
    for name, expected in [("blend", in_run["blend"]), ("baseline_mean_profile", in_run["baseline_mean_profile"]),
                           *((n, in_run["models"][n]) for n in models)]:
        got = field["models"][name] if name in models else field[name]
        for metric in ("rmse", "mae", "mean_pearson_per_cell", "mean_spearman_per_gene", "overall_pearson"):
            assert got[metric] == pytest.approx(expected[metric], rel=1e-4, abs=1e-5), (name, metric)
    assert field["blend"]["rmse"] < field["baseline_mean_profile"]["rmse"]
    calibration = score["fold_sd_vs_error"]
    assert sum(b["n_cells"] for b in calibration["bins"]) == score["n_cells"]
    assert [b["fold_sd_mean"] for b in calibration["bins"]] == sorted(b["fold_sd_mean"] for b in calibration["bins"])
    unscored = yaml.safe_load((run / "results/cite/query/shuffled/score.json").read_text())
    assert unscored["scored"] is False
    assert not list((res / "query/own_cite").glob("tmp*")), "the scratch file of the models' predictions is left"


def test_load_model_predict_gives_the_query_rules_anndata(queried, tmp_path):
    run, _ = queried
    # The results folder copied elsewhere without the run's inputs, targets and predictions is the whole model.
    shutil.copytree(run / "results" / "cite", tmp_path / "cite",
                    ignore=shutil.ignore_patterns("ingest", "query", "oof.h5ad", "test.h5ad", "day_out.h5ad"))
    model = load_model(tmp_path / "cite")
    out = model.predict(ad.read_h5ad(run / "shuffled.h5ad"))
    rule = ad.read_h5ad(run / "results/cite/query/shuffled/predictions.h5ad")
    np.testing.assert_array_equal(out.X, rule.X)
    np.testing.assert_array_equal(out.layers["standardized"], rule.layers["standardized"])
    assert {k: str(v) for k, v in out.uns["feature_match"].items()} == \
        {k: str(v) for k, v in rule.uns["feature_match"].items()}


def test_a_query_matching_no_feature_fails_with_one_line_and_no_output(queried, tmp_path):
    run, _ = queried
    bad = ad.read_h5ad(run / "own_cite.h5ad")
    bad.var_names = [f"UNKNOWN_{i}" for i in range(bad.n_vars)]
    bad.write_h5ad(tmp_path / "nomatch.h5ad")
    (tmp_path / "q.yaml").write_text(yaml.safe_dump(
        {"query": {"nomatch": {"modality": "cite", "inputs": str(tmp_path / "nomatch.h5ad")}}}))
    proc = run_snakemake(run, "--configfile", TINY, str(run / "train.yaml"), str(tmp_path / "q.yaml"), "--",
                         "query", check=False)
    assert proc.returncode != 0
    log = (run / "logs/query/cite/nomatch.log").read_text().strip().splitlines()
    assert log[-1].endswith(f"{tmp_path / 'nomatch.h5ad'}: only 0 of the reference's {bad.n_vars} features (0%) are "
                            f"among its {bad.n_vars}; at least 50% must match")
    assert "Traceback" not in "\n".join(log)
    assert not (run / "results/cite/query/nomatch").exists() or not any((run / "results/cite/query/nomatch").iterdir())


def test_a_second_query_entry_runs_only_that_entry(queried, tmp_path):
    run, _ = queried
    shutil.copy(run / "own_cite.h5ad", tmp_path / "again.h5ad")
    queries = yaml.safe_load((run / "query.yaml").read_text())
    queries["query"]["again"] = {"modality": "cite", "inputs": str(tmp_path / "again.h5ad")}
    (tmp_path / "q.yaml").write_text(yaml.safe_dump(queries))
    proc = run_snakemake(run, "-n", "--configfile", TINY, str(run / "train.yaml"), str(tmp_path / "q.yaml"), "--",
                         "query")
    assert planned_jobs(proc.stdout) == {"query_predictions": 1, "query": 1}
    assert "wildcards: modality=cite, name=again" in proc.stdout
