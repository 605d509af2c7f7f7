"""Hyperparameter studies (config `tune:`, target `tune`): workers share one Optuna study in a journal file, a killed
run resumes to n_trials, `params_from: tune` trains with the best params, the report shows each study."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from conftest import REPO, SNAKEMAKE_TIMEOUT, run_snakemake
from optuna.trial import TrialState

from msci import tune
from msci.report import study_section
from msci.tune import create_study, decode, run_worker, storage, suggest, summarize

TINY = str(REPO / "tests" / "tiny.yaml")
SPACE = {"x": {"low": -2.0, "high": 2.0}, "width": {"choices": [[8], [16, 8]]}}


def toy(trial: optuna.Trial, pause: float = 0.0) -> float:
    """A quick objective with a known best (x = 0.5), reporting per-'fold' steps as the real one does."""
    x, width = suggest(trial, "x", SPACE["x"]), suggest(trial, "width", SPACE["width"])
    assert isinstance(width, list)
    time.sleep(pause)
    for step in range(2):
        trial.report(-((x - 0.5) ** 2), step)
    return -((x - 0.5) ** 2) + 0.01 * len(width)


@pytest.fixture
def study(tmp_path):
    create_study("journal", tmp_path / "journal.log", "s", str(tmp_path / "study.json"), {"space": SPACE})
    return optuna.load_study(study_name="s", storage=storage("journal", tmp_path / "journal.log"),
                             sampler=optuna.samplers.TPESampler(seed=0))


def test_parallel_workers_add_trials_to_one_study_until_n_trials_are_finished(tmp_path, study):
    journal = tmp_path / "journal.log"

    def worker(w: int) -> None:
        mine = optuna.load_study(study_name="s", storage=storage("journal", journal),
                                 sampler=optuna.samplers.TPESampler(seed=w))
        run_worker(mine, lambda t: toy(t, pause=0.05), n_trials=8, worker=w, n_workers=2)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    trials = study.get_trials()
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == 8
    assert {t.user_attrs["worker"] for t in finished} == {0, 1}
    # A trial asked for after the last slot was taken is the only kind that may fail, and says so.
    assert all(t.user_attrs.get("surplus") for t in trials if t.state == TrialState.FAIL)


def test_an_interrupted_trial_is_marked_failed_and_replaced(study, monkeypatch):
    for w in (0, 5):  # worker 0's killed predecessor, and a worker index no longer configured
        left = study.ask()
        left.set_user_attr("worker", w)
    study.ask()  # a worker killed before it could name itself (old enough, with the grace period set to 0)
    monkeypatch.setattr(tune, "ORPHAN_SECONDS", 0)
    out = run_worker(study, toy, n_trials=3, worker=0, n_workers=2)
    states = pd.Series([t.state.name for t in study.get_trials()]).value_counts().to_dict()
    assert out["interrupted_marked_failed"] == 3 and out["trials_run"] == 3
    assert states == {"FAIL": 3, "COMPLETE": 3}


def test_a_trial_that_breaks_the_model_fails_alone_and_a_broken_objective_stops_the_worker(study):
    calls = []

    def flaky(trial):
        calls.append(trial.number)
        if len(calls) == 1:
            raise FloatingPointError("diverged")
        return toy(trial)

    run_worker(study, flaky, n_trials=2, worker=0, n_workers=1)
    assert [t.state.name for t in study.get_trials()] == ["FAIL", "COMPLETE", "COMPLETE"]
    with pytest.raises(RuntimeError, match="3 trials in a row failed; the last: ValueError: nope"):
        run_worker(study, lambda t: (_ for _ in ()).throw(ValueError("nope")), n_trials=5, worker=0, n_workers=1)


def test_the_summary_holds_the_best_params_every_trial_and_the_report_shows_the_study(tmp_path, study):
    run_worker(study, toy, n_trials=12, worker=0, n_workers=1)
    files = {k: str(tmp_path / name) for k, name in
             (("best", "best.yaml"), ("trials", "trials.csv"), ("importances", "importances.json"))}
    summarize(str(tmp_path / "study.json"), "journal", SPACE, files["best"], files["trials"], files["importances"])
    best = yaml.safe_load(open(files["best"]))
    assert best["params"] == decode(study.best_trial.params, SPACE) and best["value"] == study.best_value
    assert isinstance(best["params"]["width"], list) and best["n_trials"] == 12
    trials = pd.read_csv(files["trials"])
    assert list(trials.columns) == ["number", "state", "value", "param_x", "param_width", "duration_seconds",
                                    "worker"]
    assert len(trials) == 12 and (trials["duration_seconds"] >= 0).all()
    importances = json.loads(open(files["importances"]).read())["importances"]
    assert set(importances) == {"x", "width"} and importances["x"] > importances["width"]
    html = "".join(study_section("toy", files))
    assert "Study: toy" in html and "<img" in html and f"{best['value']:.4f}" in html


def _tune_config(folder, n_trials: int, **extra) -> str:
    path = folder / "tune.yaml"
    path.write_text(yaml.safe_dump({
        "tune": {"n_trials": n_trials, "n_workers": 2, "models": {"ridge": {"alpha": {"low": 0.01, "high": 100.0,
                                                                                       "log": True}}}},
        "models": {"ridge": {"params_from": "tune"}}, **extra}))
    return str(path)


def _executed(proc: subprocess.CompletedProcess) -> set[str]:
    return {line.split()[1].rstrip(":") for line in (proc.stdout + proc.stderr).splitlines()
            if line.startswith(("rule ", "localrule ", "checkpoint ", "localcheckpoint "))}


@pytest.mark.slow
def test_params_from_tune_trains_with_the_best_params_and_reruns_only_when_they_change(tmp_path):
    target = "results/cite/models/ridge/metrics.json"
    run_snakemake(tmp_path, "--configfile", TINY, _tune_config(tmp_path, 4), "--", target)
    best = yaml.safe_load((tmp_path / "results/cite/tune/ridge/best.yaml").read_text())
    metrics = json.loads((tmp_path / target).read_text())
    assert metrics["params"]["alpha"] == pytest.approx(best["params"]["alpha"])
    trials = pd.read_csv(tmp_path / "results/cite/tune/ridge/trials.csv")
    assert (trials["state"] == "COMPLETE").sum() == 4
    # More trials extend the same study; the model retrains only if they found better params.
    again = run_snakemake(tmp_path, "--configfile", TINY, _tune_config(tmp_path, 7), "--", target)
    after = yaml.safe_load((tmp_path / "results/cite/tune/ridge/best.yaml").read_text())
    trials = pd.read_csv(tmp_path / "results/cite/tune/ridge/trials.csv")
    assert (trials["state"] == "COMPLETE").sum() == 7 and set(trials["number"]) == set(range(7))
    assert {"tune_worker", "tune_results"} <= _executed(again) and "tune_study" not in _executed(again)
    assert ("train_model" in _executed(again)) == (after["params"] != best["params"])
    assert json.loads((tmp_path / target).read_text())["params"]["alpha"] == pytest.approx(after["params"]["alpha"])


@pytest.mark.slow
def test_a_killed_tune_run_resumes_to_n_trials_replacing_the_interrupted_trial(tmp_path):
    slow = {"models": {"mlp_svd": {"type": "mlp", "modalities": ["cite"], "features": ["svd"],
                                   "params": {"hidden": [64], "epochs": 12, "batch_size": 16, "n_bags": 1}}},
            "tune": {"n_trials": 3, "n_workers": 1, "models": {"mlp_svd": {"lr": {"low": 1e-4, "high": 1e-2,
                                                                                  "log": True}}}},
            "modalities": ["cite"]}
    (tmp_path / "slow.yaml").write_text(yaml.safe_dump(slow))
    args = ["--configfile", TINY, str(tmp_path / "slow.yaml"), "--", "tune"]
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
           "--cores", "2", *args]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    journal = tmp_path / "results/cite/tune/mlp_svd/journal.log"
    deadline = time.monotonic() + SNAKEMAKE_TIMEOUT
    try:
        while time.monotonic() < deadline and proc.poll() is None:  # kill it during its second trial
            if journal.exists():
                trials = optuna.load_study(study_name=None, storage=storage("journal", journal)).get_trials()
                if sum(t.state == TrialState.COMPLETE for t in trials) >= 1 and \
                        any(t.state == TrialState.RUNNING for t in trials):
                    break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed mid-trial"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    run_snakemake(tmp_path, "--unlock", *args)  # the killed run's lock
    run_snakemake(tmp_path, "--rerun-incomplete", *args)
    trials = pd.read_csv(tmp_path / "results/cite/tune/mlp_svd/trials.csv")
    assert (trials["state"].isin(["COMPLETE", "PRUNED"])).sum() == 3
    assert (trials["state"] == "FAIL").sum() >= 1
    log = (tmp_path / "logs/tune_worker/cite/mlp_svd/0.log").read_text()
    assert "was interrupted: marked failed, to be replaced" in log
    assert np.isfinite(yaml.safe_load((tmp_path / "results/cite/tune/mlp_svd/best.yaml").read_text())["value"])
