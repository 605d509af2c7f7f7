"""A finished run predicts new cells (config `query:`, target `query`; msci.load_model) without refitting."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import anndata as ad
import mudata as md
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import yaml
from conftest import REPO, run_snakemake
from test_workflow import planned_jobs

import msci
from msci.archive import export
from msci.io.checks import InputError
from msci.model_card import FAMILY_LIBRARIES
from msci.models.registry import REGISTRY
from msci.predictions import ScoreFiles, score_predictions, write_predictions
from msci.reference import _cast, load_model

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
        # Every layer in full precision, to compare with the run's own test predictions.
        queries[f"own_{m}"] = {"modality": m, "inputs": str(run / f"own_{m}.h5ad"), "dtype": "float32",
                               "layers": ["X", "standardized", "fold_sd"]}
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


def test_a_default_query_writes_only_x_in_float16_and_the_mean_fold_spread(queried):
    run, _ = queried
    rule = ad.read_h5ad(run / "results/cite/query/shuffled/predictions.h5ad")
    assert rule.X.dtype == np.float16 and not rule.layers and list(rule.obs.columns) == ["fold_sd_mean"]
    full = ad.read_h5ad(run / "results/cite/query/own_cite/predictions.h5ad")
    assert full.X.dtype == np.float32 and set(full.layers) == {"standardized", "fold_sd"}


def test_load_model_predict_gives_the_query_rules_anndata(queried, tmp_path):
    run, _ = queried
    # The results folder copied elsewhere without the run's inputs, targets and predictions is the whole model.
    shutil.copytree(run / "results" / "cite", tmp_path / "cite",
                    ignore=shutil.ignore_patterns("ingest", "query", "oof.h5ad", "test.h5ad", "day_out.h5ad"))
    model = load_model(tmp_path / "cite")
    out = model.predict(ad.read_h5ad(run / "shuffled.h5ad"), dtype="float16")
    rule = ad.read_h5ad(run / "results/cite/query/shuffled/predictions.h5ad")
    np.testing.assert_array_equal(out.X, rule.X)
    pd.testing.assert_frame_equal(out.obs, rule.obs)
    assert list(out.var_names) == list(rule.var_names) and not out.layers
    assert {k: str(v) for k, v in out.uns["feature_match"].items()} == \
        {k: str(v) for k, v in rule.uns["feature_match"].items()}


def test_predict_puts_predictions_into_the_users_anndata_and_mudata(queried):
    run, _ = queried
    model = load_model(run / "results" / "cite")
    own = ad.read_h5ad(run / "own_cite.h5ad")
    expected = model.predict(own)
    adata = own.copy()
    assert model.predict(adata, key_added="adt_pred", layers=("X", "fold_sd")) is None
    np.testing.assert_array_equal(adata.obsm["adt_pred"], expected.X)
    np.testing.assert_array_equal(adata.obsm["adt_pred_fold_sd"], model.predict(own, layers=("X", "fold_sd"))
                                  .layers["fold_sd"])
    assert list(adata.uns["adt_pred"]["target_names"]) == list(model.target_names)
    np.testing.assert_array_equal(adata.obs["adt_pred_fold_sd_mean"], expected.obs["fold_sd_mean"])
    mdata = md.MuData({"rna": own.copy(), "other": ad.AnnData(np.zeros((own.n_obs, 2)), obs=own.obs[[]])})
    assert model.predict(mdata, modality="rna", key_added="adt") is None
    np.testing.assert_array_equal(mdata.mod["adt"].X, expected.X)
    assert list(mdata.mod["adt"].obs_names) == list(own.obs_names)
    with pytest.raises(ValueError, match="name the inputs' one"):
        model.predict(mdata)


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


MSCI = str(Path(sys.executable).parent / "msci")  # the console script `pip install -e .` puts beside python


def msci_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([MSCI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def exported(queried):
    """The `export` target run on the finished run: one archive per modality."""
    run, _ = queried
    run_snakemake(run, *_configs(run), "--", "export")
    return run


def test_export_writes_each_modalitys_archive_with_a_model_card_of_the_run(exported):
    run = exported
    for m in ("cite", "multi"):
        res = run / "results" / m
        card = json.loads((res / "model_card.json").read_text())
        cells = pd.read_parquet(res / "ingest/cells.parquet")
        data = card["training_data"]
        assert data["n_cells"] == (cells["split"] == "train").sum() and sum(data["day"].values()) == data["n_cells"]
        assert data["targets"]["names"] == list(load_model(res).target_names)
        assert data["inputs"]["n"] == ad.read_h5ad(res / "ingest/inputs.h5ad", backed="r").n_vars
        assert card["msci"]["version"] == msci.__version__
        types = {json.loads((res / f"models/{n}/fitted/fitted.json").read_text())["type"] for n in card["members"]}
        families = json.loads((res / "reference.json").read_text())["families"]
        needed = {"numpy", "anndata", "scikit-learn", "skops"} | {lib for t in types for lib in REGISTRY[t].libraries}
        needed |= {lib for f in families for lib in FAMILY_LIBRARIES.get(f, ())}
        assert set(card["libraries"]) == needed and all(card["libraries"].values())
        assert set(card["scores"]["models"]) == set(card["members"]) and card["scores"]["held_out"]["private"]
        with zipfile.ZipFile(res / f"{m}.msci") as z:
            assert set(z.namelist()) == {*card["files"], "model_card.json", "model_card.md"}
    assert "Model card" in (run / "results/report/index.html").read_text()


def test_an_exported_archive_predicts_in_a_new_process_elsewhere_as_the_run_did(exported, tmp_path):
    run = exported
    copy = tmp_path / "run_copy"
    shutil.copytree(run / "results" / "cite", copy, ignore=shutil.ignore_patterns("query", "*.msci"))
    out = msci_cli("export", copy, "-o", tmp_path / "shared" / "cite")
    assert out.returncode == 0, out.stderr
    shutil.rmtree(copy)  # the run is gone; the archive is all there is
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = ("import anndata as ad, msci; m = msci.load_model('../shared/cite.msci'); "
              f"m.predict(ad.read_h5ad({str(run / 'own_cite.h5ad')!r}), layers=('X', 'standardized', 'fold_sd'))"
              ".write_h5ad('pred.h5ad')")
    proc = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = ad.read_h5ad(elsewhere / "pred.h5ad")
    rule = ad.read_h5ad(run / "results/cite/query/own_cite/predictions.h5ad")
    assert list(got.obs_names) == list(rule.obs_names)
    for layer in ("standardized", "fold_sd"):
        assert np.abs(got.layers[layer] - rule.layers[layer]).max() <= 1e-6
    assert np.abs(got.X - rule.X).max() <= 1e-6


def test_msci_predict_from_a_shell_writes_and_scores_what_the_query_rule_does(exported, tmp_path):
    run = exported
    archive = run / "results/cite/cite.msci"
    proc = msci_cli("predict", archive, run / "own_cite.h5ad", "-o", tmp_path / "own.h5ad", "--name", "own_cite",
                    "--layers", "X", "standardized", "fold_sd", "--dtype", "float32",
                    "--targets", run / "own_cite_targets.h5ad", "--score", tmp_path / "score.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "reference features matched" in proc.stderr and "cells predicted" in proc.stdout
    got, rule = ad.read_h5ad(tmp_path / "own.h5ad"), ad.read_h5ad(run / "results/cite/query/own_cite/predictions.h5ad")
    np.testing.assert_array_equal(got.X, rule.X)
    np.testing.assert_array_equal(got.layers["fold_sd"], rule.layers["fold_sd"])
    pd.testing.assert_frame_equal(got.obs, rule.obs)
    score = json.loads((tmp_path / "score.json").read_text())
    assert score == json.loads((run / "results/cite/query/own_cite/score.json").read_text())
    assert not [p for p in tmp_path.iterdir() if p.name not in ("own.h5ad", "score.json")], "scratch files left"


def _rewritten(archive: Path, out: Path, edit) -> Path:
    """A copy of ``archive`` with ``edit(name, bytes) -> bytes`` applied to every member."""
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, edit(name, src.read(name)))
    return out


def _card_edit(change):
    def edit(name, data):
        if name != "model_card.json":
            return data
        card = json.loads(data)
        change(card)
        return json.dumps(card).encode()
    return edit


def test_a_tampered_archive_or_one_of_another_version_is_refused_with_one_line(exported, tmp_path):
    archive = exported / "results/cite/cite.msci"
    tampered = _rewritten(archive, tmp_path / "tampered.msci",
                          lambda n, d: d + b" " if n == "units/metrics.json" else d)
    proc = msci_cli("predict", tampered, exported / "own_cite.h5ad", "-o", tmp_path / "out.h5ad")
    assert proc.returncode == 1 and not (tmp_path / "out.h5ad").exists()
    assert proc.stderr.strip() == (f"msci predict: {tampered}: is damaged or edited: units/metrics.json differs from "
                                   "its checksum in the model card")
    cases = {"format": (lambda c: c.update(format=99), "is archive format 99"),
             "torch": (lambda c: c["libraries"].update(torch="0.4.1"), "was written with torch 0.4.1"),
             "missing": (lambda c: c["libraries"].update({"msci-no-such-lib": "1.0"}),
                         "needs msci-no-such-lib (written with msci-no-such-lib 1.0), which this environment does "
                         "not have")}
    for name, (change, words) in cases.items():
        bad = _rewritten(archive, tmp_path / f"{name}.msci", _card_edit(change))
        with pytest.raises(InputError) as err:
            load_model(bad)
        assert words in str(err.value) and "\n" not in str(err.value)
    damaged = tmp_path / "damaged.msci"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)  # a run of bytes inside some member's compressed data
    damaged.write_bytes(bytes(data))
    no_card = tmp_path / "no_card.msci"
    with zipfile.ZipFile(archive) as src, zipfile.ZipFile(no_card, "w") as dst:
        for n in src.namelist():
            if n != "model_card.json":
                dst.writestr(n, src.read(n))
    for bad, words in ((damaged, "is damaged"), (no_card, "is not an msci archive (no model_card.json)")):
        with pytest.raises(InputError) as err:
            load_model(bad)
        assert words in str(err.value) and "\n" not in str(err.value)


def test_an_archive_from_another_build_of_the_same_release_loads_without_a_warning(exported, tmp_path):
    archive = exported / "results/cite/cite.msci"
    ours = json.loads(zipfile.ZipFile(archive).read("model_card.json"))["libraries"]["torch"]
    other = _rewritten(archive, tmp_path / "cu.msci",
                       _card_edit(lambda c: c["libraries"].update(torch=ours.split("+")[0] + "+cu121")))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.filterwarnings("ignore", message="Device used")  # TabNet's own notice
        load_model(other)


def test_predictions_beyond_float16s_range_are_refused_with_one_line():
    with pytest.raises(ValueError, match=r"predictions \(X\) reach 7e\+04, beyond float16's range \(65504\)"):
        _cast(np.array([[1.0, -7e4]], np.float32), np.dtype("float16"), "X")
    assert _cast(np.array([[1.0, -7e4]], np.float32), np.dtype("float32"), "X").dtype == np.float32


def test_export_refuses_a_run_whose_fitted_files_changed_since_its_card(exported, tmp_path):
    copy = tmp_path / "cite"
    shutil.copytree(exported / "results/cite", copy, ignore=shutil.ignore_patterns("query", "ingest", "*.msci"))
    (copy / "ensemble/weights.json").write_text("{}")
    with pytest.raises(InputError, match="weights.json: differs from its checksum"):
        export(copy, tmp_path / "out.msci")
    assert not list(tmp_path.glob("*.msci*")) and not list(tmp_path.glob(".out.msci*"))
