"""End-to-end runs of the real workflow (Snakemake) on tiny simulated data."""

from __future__ import annotations

import json
import os
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import REPO, run_snakemake, workflow_with_models

from msci.io.competition import write_frame
from msci.io.matrix import MatrixFile
from msci.metrics import mean_row_pearson
from msci.submission import score_submission

pytestmark = pytest.mark.slow
TINY = str(REPO / "tests" / "tiny.yaml")
# How far above predicting every cell as the training mean profile the tiny run must score (per-cell Pearson).
QUALITY_MARGIN = 0.02


def planned_jobs(stdout: str) -> dict[str, int]:
    """Rule → job count from the 'Job stats' table of a dry run (empty when nothing is to be done)."""
    if "Nothing to be done" in stdout:
        return {}
    table = stdout.split("Job stats:", 1)[1]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m.group(1) != "total"}


def _dry(run, workflow_copy, *args) -> dict[str, int]:
    proc = run_snakemake(run, "-s", str(workflow_copy / "Snakefile"), "--configfile", TINY, "-n", *args)
    return planned_jobs(proc.stdout)


def test_demo_submission_is_complete_ordered_finite_and_beats_the_mean(demo_run):
    data = demo_run / "resources" / "demo" / "data"
    ev = pd.read_csv(data / "evaluation_ids.csv")
    sub = pd.read_csv(demo_run / "results" / "submission.csv")
    assert list(sub.columns) == ["row_id", "target"]
    assert (sub["row_id"].to_numpy() == ev["row_id"].to_numpy()).all()
    assert np.isfinite(sub["target"]).all()
    score = json.loads((demo_run / "results" / "score.json").read_text())
    assert set(score) == {"cite", "multi", "overall"}
    # The baseline: every test cell predicted as the training mean of each target.
    means = {m: pd.read_hdf(data / f"train_{m}_targets.h5").mean() for m in ("cite", "multi")}
    target = np.concatenate([means[m].reindex(ev["gene_id"]).to_numpy() for m in ("cite", "multi")])
    target = np.where(np.isnan(target[: len(ev)]), target[len(ev):], target[: len(ev)])
    pd.DataFrame({"row_id": ev["row_id"], "target": target}).to_csv(demo_run / "mean.csv", index=False)
    hidden = demo_run / "resources" / "demo" / "hidden"
    mean_score = score_submission(str(demo_run / "mean.csv"), str(data / "evaluation_ids.csv"),
                                  {m: str(hidden / f"test_{m}_targets.h5") for m in ("cite", "multi")},
                                  str(data / "metadata.csv"))
    for key in ("cite", "multi", "overall"):
        for board in ("public", "private"):
            assert score[key][board] > mean_score[key][board] + QUALITY_MARGIN, (key, board, score, mean_score)
    for modality, models in (("cite", ["ridge", "krr", "xgboost", "mlp", "resnet", "cnn1d", "tabnet"]),
                             ("multi", ["ridge", "krr", "mlp", "cnn1d"])):
        for model in models:
            metrics = json.loads((demo_run / "results" / modality / "models" / model / "metrics.json").read_text())
            assert -1 <= metrics["cv_pearson"] <= 1 and metrics["fit_seconds"] > 0  # tiny epochs: any quality
            assert {"cv_pearson_good_validation", "cv_pearson_by_day", "device"} <= set(metrics)
            # Early-stopping models watched the scored fold but chose their epoch on an inner split.
            stops = model not in ("ridge", "krr")
            assert ("early_stopping_overstatement" in metrics) == stops
            assert all((f.get("n_stop", 0) > 0) == stops for f in metrics["folds"])
            if model == "krr":  # the default config's kernel ridge picks its width per fold, by leave-one-out
                assert all(f["length_scale"] > 0 and f["alpha"] > 0 for f in metrics["folds"])
            # Day out: a model trained on the earlier training days, scored on the latest one.
            day_out = MatrixFile(demo_run / "results" / modality / "models" / model / "day_out.h5ad")
            cells = pd.read_parquet(demo_run / "results" / modality / "ingest" / "cells.parquet")
            latest = cells.loc[cells["split"] == "train", "day"].max()
            assert set(cells.loc[day_out.obs_names, "day"]) == {latest} and metrics["day_out"]["day"] == str(latest)
            assert day_out.shape[0] == ((cells["split"] == "train") & (cells["day"] == latest)).sum()
            assert -1 <= metrics["cv_pearson_day_out"] <= 1
        blend = json.loads((demo_run / "results" / modality / "ensemble" / "metrics.json").read_text())
        assert set(blend["weights"]) == set(models) and abs(sum(blend["weights"].values()) - 1) < 1e-9
        assert len(blend["cv_pearson_holdout_by_seed"]) == 3 and -1 <= blend["cv_pearson_day_out"] <= 1
    page = (demo_run / "results" / "report" / "index.html").read_text()
    assert page.count("data:image/png;base64") >= 8 and "Score on the hidden demo targets" in page
    assert "blend, out of sample" in page and "if_stopped_on_scored_fold" in page


def test_ridge_cross_validates_above_the_training_mean_profile_by_a_margin(demo_run):
    for modality in ("cite", "multi"):
        targets = MatrixFile(demo_run / "results" / modality / "ingest" / "targets.h5ad").read()
        # The mean profile of all training cells: in sample, so a baseline at least as strong as one per fold.
        mean_profile = mean_row_pearson(targets, np.broadcast_to(targets.mean(axis=0), targets.shape))
        ridge = json.loads((demo_run / "results" / modality / "models" / "ridge" / "metrics.json").read_text())
        assert ridge["cv_pearson"] > mean_profile + QUALITY_MARGIN, (modality, ridge["cv_pearson"], mean_profile)


def test_models_predict_multiome_codes_and_cite_targets_exactly(demo_run):
    from msci.io.matrix import MatrixFile
    from msci.target_codes import load_codec

    for modality, n_codes in (("cite", 16), ("multi", 9)):
        codec, cells, rho = load_codec(demo_run / "results" / modality / "targets" / "codec.npz")
        oof = MatrixFile(demo_run / "results" / modality / "models" / "ridge" / "oof.h5ad")
        assert oof.shape == (len(cells), n_codes) and list(oof.var_names) == codec.code_names
        assert codec.method == ("none" if modality == "cite" else "svd") and (rho <= 1 + 1e-6).all()


# What reruns after any change that reaches the blend: the submission and its score, both modalities' model
# cards (they state the config and the score), the report, and the default target.
DELIVERY = {"submission": 1, "score": 1, "model_card": 2, "report": 1, "all": 1}


def test_changing_the_target_compression_reruns_multiome_from_its_codes_on(demo_run, workflow_copy):
    override = yaml.safe_load(Path(TINY).read_text())
    override["targets"]["n_components"] = 4
    path = demo_run / "override_targets.yaml"
    path.write_text(yaml.safe_dump(override))
    proc = run_snakemake(demo_run, "-s", str(workflow_copy / "Snakefile"), "--configfile", str(path), "-n")
    assert planned_jobs(proc.stdout) == {"encode_targets": 1, "train_model": 4, "ensemble": 1, "units": 1,
                                         "reference": 1, **DELIVERY}


def test_finished_run_has_nothing_to_do(demo_run, workflow_copy):
    assert _dry(demo_run, workflow_copy) == {}


def test_changing_model_params_reruns_the_model_and_its_consumers_only(demo_run, workflow_copy):
    jobs = _dry(demo_run, workflow_copy, "--config", "models={ridge: {type: ridge, params: {alpha: 3.0}}}")
    assert jobs == {"train_model": 2, "ensemble": 2, "units": 2, "reference": 2, **DELIVERY}


def test_dropping_a_model_from_the_blend_reruns_only_the_blend_and_what_follows(demo_run, workflow_copy):
    jobs = _dry(demo_run, workflow_copy, "--config", "ensemble={models: [ridge, xgboost]}")
    assert jobs == {"ensemble": 2, "units": 2, "reference": 2, **DELIVERY}


def test_adding_a_model_trains_only_it(demo_run, workflow_copy):
    jobs = _dry(demo_run, workflow_copy, "--config",
                "models={ridge_strong: {type: ridge, modalities: [cite], params: {alpha: 100.0}}}")
    assert jobs == {"train_model": 1, "ensemble": 1, "units": 1, "reference": 1, **DELIVERY}


def test_changing_one_feature_family_reruns_it_and_its_consumers_only(demo_run, workflow_copy):
    # svd_chrom feeds Multiome's ivis embedding and 1D-CNN; nothing of CITE, not the validation classifiers.
    # Nested values go through a config file: `--config` would hand them over as strings.
    override = yaml.safe_load(Path(TINY).read_text())
    override["features"]["svd_chrom"]["n_components"] = 3
    path = demo_run / "override.yaml"
    path.write_text(yaml.safe_dump(override))
    proc = run_snakemake(demo_run, "-s", str(workflow_copy / "Snakefile"), "--configfile", str(path), "-n")
    jobs = planned_jobs(proc.stdout)
    assert jobs == {"features_svd_chrom": 1, "features_ivis": 1, "train_model": 1, "ensemble": 1, "units": 1,
                    "reference": 1, **DELIVERY}


def test_lsi_features_feed_the_multiome_mlp_and_any_model_can_use_them(demo_run, workflow_copy):
    jobs = _dry(demo_run, workflow_copy, "--config",
                "models={ridge_lsi: {type: ridge, modalities: [multi], features: [lsi]}}")
    assert jobs == {"train_model": 1, "ensemble": 1, "units": 1, "reference": 1, **DELIVERY}
    table = pd.read_parquet(demo_run / "results" / "multi" / "features" / "lsi.parquet")
    cells = pd.read_parquet(demo_run / "results" / "multi" / "ingest" / "cells.parquet")
    assert list(table.index) == list(cells.index) and table.shape[1] == 50 and np.isfinite(table.to_numpy()).all()
    check = json.loads((demo_run / "results" / "multi" / "features" / "lsi.metrics.json").read_text())
    assert len(check["depth_correlation"]) == 51 and check["n_components"] == 50
    mlp = json.loads((demo_run / "results" / "multi" / "models" / "mlp" / "metrics.json").read_text())
    assert mlp["n_features"] == 50 and all(len(f["epochs"]) == 2 for f in mlp["folds"])  # two bags in tiny.yaml


def test_changing_a_library_module_reruns_the_rules_that_import_it(demo_run, workflow_copy):
    module = workflow_copy / "workflow" / "scripts" / "msci" / "ensemble.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# an edit\n")
        assert _dry(demo_run, workflow_copy) == {"ensemble": 2, "units": 2, "reference": 2, **DELIVERY}
    finally:
        module.write_text(original)
    assert _dry(demo_run, workflow_copy) == {}


def _rules_by_script(workflow_copy: Path) -> dict[str, set[str]]:
    """Wrapper script name → the rules that run it, read from the rule files."""
    out: dict[str, set[str]] = {}
    for smk in (workflow_copy / "workflow" / "rules").rglob("*.smk"):
        for m in re.finditer(r"^\s*rule (\w+):(.*?)(?=^\s*rule |\Z)", smk.read_text(), re.M | re.S):
            script = re.search(r'"(?:\.\./)+scripts/(\w+\.py)"', m.group(2))
            if script:
                out.setdefault(script.group(1), set()).add(m.group(1))
    return out


def _downstream_jobs(run: Path, workflow_copy: Path) -> tuple[dict[str, str], dict[str, set[str]]]:
    """The finished run's job graph: job → rule, and job → the jobs that consume its outputs."""
    dot = run_snakemake(run, "-s", str(workflow_copy / "Snakefile"), "--configfile", TINY, "--forceall",
                        "--dag").stdout
    rule = {m.group(1): m.group(2) for m in re.finditer(r'^\s*(\d+)\[label = "([\w]+)', dot, re.M)}
    consumers: dict[str, set[str]] = {job: set() for job in rule}
    for m in re.finditer(r"^\s*(\d+) -> (\d+)", dot, re.M):
        consumers[m.group(1)].add(m.group(2))
    return rule, consumers


def _with_downstream(rules: set[str], rule_of: dict[str, str], consumers: dict[str, set[str]]) -> dict[str, int]:
    """Rule → job count of the ``rules``' jobs and everything downstream of them."""
    todo = [job for job, r in rule_of.items() if r in rules]
    planned = set(todo)
    while todo:
        for nxt in consumers[todo.pop()] - planned:
            planned.add(nxt)
            todo.append(nxt)
    return dict(Counter(rule_of[j] for j in planned))


def test_a_fresh_checkout_reruns_nothing_and_an_edited_wrapper_reruns_its_rules(demo_run, workflow_copy, tmp_path):
    """With the workflow profile, code is tracked by content: newer files (a fresh clone) plan nothing, while an
    edit to a wrapper script plans the rules that run it and their downstream."""
    copy = tmp_path / "wf"
    shutil.copytree(workflow_copy, copy, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "profiles", copy / "profiles")  # picked up next to the Snakefile
    later = max(p.stat().st_mtime for p in (demo_run / "results").rglob("*")) + 60
    for path in copy.rglob("*"):
        os.utime(path, (later, later))
    assert _dry(demo_run, copy, "--nolock") == {}
    wrapper = copy / "workflow" / "scripts" / "ensemble.py"
    wrapper.write_text(wrapper.read_text() + "\n# an edit\n")
    rule_of, consumers = _downstream_jobs(demo_run, copy)
    planned = _dry(demo_run, copy, "--nolock")
    assert planned == _with_downstream(_rules_by_script(copy)["ensemble.py"], rule_of, consumers)
    assert planned["ensemble"] == 2 and "train_model" not in planned


def test_editing_any_library_module_reruns_exactly_the_rules_whose_wrappers_import_it(demo_run, workflow_copy,
                                                                                     tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from msci.provenance import library_modules

    lib = workflow_copy / "workflow" / "scripts" / "msci"
    reach: dict[Path, set[str]] = {}
    for script, names in _rules_by_script(workflow_copy).items():
        for module in library_modules(lib.parent / script, lib):
            reach.setdefault(module.relative_to(lib), set()).update(names)
    rule_of, consumers = _downstream_jobs(demo_run, workflow_copy)

    modules = sorted(p.relative_to(lib) for p in lib.rglob("*.py"))
    assert len(modules) > 30 and reach
    # One module edited at a time in each of a few copies of the workflow, the dry runs side by side (each is
    # seconds of start-up; a dry run takes no lock on the finished run).
    copies = [workflow_copy]
    for i in range(1, max(2, min(4, os.cpu_count() or 1))):
        copies.append(tmp_path / f"wf{i}")
        shutil.copytree(workflow_copy, copies[-1], ignore=shutil.ignore_patterns("__pycache__"))

    def check(copy: Path, share: list[Path]) -> list[tuple[Path, dict, dict]]:
        seen = []
        for module in share:
            path = copy / "workflow" / "scripts" / "msci" / module
            original = path.read_text()
            try:
                path.write_text(original + "\n# an edit\n")
                seen.append((module, _dry(demo_run, copy, "--nolock"),
                             _with_downstream(reach.get(module, set()), rule_of, consumers)))
            finally:
                path.write_text(original)
        return seen

    with ThreadPoolExecutor(len(copies)) as pool:
        shares = pool.map(check, copies, [modules[i::len(copies)] for i in range(len(copies))])
        results = [r for share in shares for r in share]
    assert sorted(m for m, _, _ in results) == modules
    for module, planned, want in results:
        assert planned == want, module
    assert _dry(demo_run, workflow_copy) == {}


def _prediction_files(run: Path) -> dict[str, bytes]:
    files = sorted((run / "results").glob("*/models/*/oof.h5ad")) + [run / "results" / "submission.csv"]
    return {str(f.relative_to(run)): f.read_bytes() for f in files}


def test_a_run_killed_mid_training_resumes_and_repeats_the_uninterrupted_run_byte_for_byte(
        demo_run, workflow_copy, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    # A longer mlp (40 epochs, no early stop), so that it is surely killed mid-training.
    config = yaml.safe_load(Path(TINY).read_text())
    config["models"]["mlp"]["params"].update(epochs=40, patience=0)
    slow = tmp_path / "slow.yaml"
    slow.write_text(yaml.safe_dump(config))
    snakefile = ["-s", str(workflow_copy / "Snakefile"), "--configfile", str(slow)]
    # The uninterrupted run of that config: the finished tiny run, retrained where the mlp changed.
    reference = tmp_path / "reference"
    shutil.copytree(demo_run, reference, symlinks=True)
    run_snakemake(reference, *snakefile)

    # The same change, killed mid-training: a copy of the finished tiny run whose mlp retrains.
    run = tmp_path / "run"
    shutil.copytree(demo_run, run, symlinks=True)
    cmd = [sys.executable, "-m", "snakemake", "--directory", str(run), "--cores", "2", "--resources", "gpu=1",
           *snakefile]
    started = time.time_ns()
    proc = subprocess.Popen(cmd, cwd=run, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)

    def fresh(path: Path) -> bool:  # written by this run
        return path.exists() and path.stat().st_mtime_ns >= started

    mlp = {m: (run / "results" / m / "models" / "mlp" / "metrics.json", run / "logs" / "train_model" / m / "mlp.log")
           for m in ("cite", "multi")}
    # Killed once one modality's mlp has finished and the other's is mid-training (the two take turns on the GPU).
    deadline = time.time() + 900
    while not any(fresh(mlp[a][0]) and not fresh(mlp[b][0]) and mlp[b][1].exists()
                  and "epoch 2/40" in mlp[b][1].read_text() for a, b in (("cite", "multi"), ("multi", "cite"))):
        assert proc.poll() is None and time.time() < deadline, "the run ended before an mlp was killed mid-training"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the scheduler and its jobs die at once, as on a crash
    proc.wait()
    assert sum(p.exists() for p, _ in mlp.values()) == 1
    done_before = {p: p.stat().st_mtime_ns for p in (run / "results").rglob("*") if p.is_file() and fresh(p)}
    run_snakemake(run, *snakefile, "--unlock")
    run_snakemake(run, *snakefile, "--rerun-incomplete")
    # Nothing that finished before the kill ran again; every model's OOF predictions and the
    # submission are the uninterrupted run's, byte for byte.
    assert done_before and all(p.stat().st_mtime_ns == t for p, t in done_before.items())
    assert _prediction_files(run) == _prediction_files(reference)


def test_another_seed_changes_the_predictions(demo_run, tmp_path):
    target = "results/cite/models/ridge/oof.h5ad"
    run_snakemake(tmp_path, "--configfile", TINY, "--config", "seed=1", "--", target)
    assert (tmp_path / target).read_bytes() != (demo_run / target).read_bytes()


def test_single_modality_run_on_a_data_dir_without_the_other_modality(demo_run, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    src = demo_run / "resources" / "demo" / "data"
    for f in src.iterdir():
        if "multi" not in f.name:
            shutil.copy(f, data / f.name)
    run = tmp_path / "run"
    run.mkdir()
    snakefile, tiny = workflow_with_models(tmp_path, ("ridge",))  # what is submitted does not hang on models
    run_snakemake(run, "-s", str(snakefile), "--configfile", str(tiny), "--config", f"data_dir={data}",
                  "modalities=[cite]")
    sub = pd.read_csv(run / "results" / "submission.csv")
    ev = pd.read_csv(data / "evaluation_ids.csv")
    cite_cells = pd.read_hdf(data / "test_cite_inputs.h5").index
    assert len(sub) == ev["cell_id"].isin(cite_cells).sum() < len(ev)
    assert not (run / "results" / "multi").exists() and not (run / "results" / "score.json").exists()
    assert "left out" in (run / "logs" / "submission" / "submission.log").read_text()
    assert "One-modality run" in (run / "results" / "report" / "index.html").read_text()


def test_an_unknown_cell_in_evaluation_ids_stops_the_run_before_any_artifact(demo_run, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_run / "resources" / "demo" / "data", data)
    ev = pd.read_csv(data / "evaluation_ids.csv")
    ev.loc[len(ev) - 1, "cell_id"] = "no-such-cell"
    ev.to_csv(data / "evaluation_ids.csv", index=False)
    run = tmp_path / "run"
    run.mkdir()
    proc = run_snakemake(run, "--configfile", TINY, "--config", f"data_dir={data}", check=False)
    assert proc.returncode != 0
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "bad input:" in ln]
    assert lines and f"evaluation_ids.csv: row_id {len(ev) - 1} names cell 'no-such-cell'" in lines[0]
    assert not [p for p in (run / "results").rglob("*") if p.is_file()]


def test_bad_input_stops_with_one_line_naming_the_file(demo_run, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(demo_run / "resources" / "demo" / "data", data)
    df = pd.read_hdf(data / "train_cite_inputs.h5")
    df.iloc[3, 2] = np.inf
    write_frame(df, data / "train_cite_inputs.h5")
    run = tmp_path / "run"
    run.mkdir()
    proc = run_snakemake(run, "--configfile", TINY, "--config", f"data_dir={data}", "modalities=[cite]", check=False)
    assert proc.returncode != 0
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if "bad input:" in ln]
    assert lines and "train_cite_inputs.h5: non-finite value (NaN or inf) in row 3" in lines[0]
    assert not list(run.rglob("*.h5ad"))
