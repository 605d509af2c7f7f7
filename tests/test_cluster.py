"""The workflow through a real single-node SLURM (tests/cluster/slurm.sh), against a local run."""

from __future__ import annotations

import os
import shutil
import subprocess

import pandas as pd
import pytest
from conftest import REPO, run_snakemake, workflow_with_models

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
SCRIPT = REPO / "tests" / "cluster" / "slurm.sh"
SLURM_MODELS = ("ridge", "mlp")
# The test cluster's overrides: its partition, squeue polling (no slurmdbd here, so no sacct), and a
# 2-CPU node (the profile gives each GPU 4 CPUs).
SLURM_ARGS = ("--profile", str(REPO / "profiles" / "slurm"), "--default-resources", "slurm_partition=test",
              "--set-resources", "features_ivis:cpus_per_gpu=1",
              "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
              "--jobs", "4", "--latency-wait", "5", "--retries", "0")


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if os.geteuid() != 0 and shutil.which("slurmctld") is None:
        pytest.skip("SLURM is not installed and installing it needs root (CI runs as root)")
    state = tmp_path_factory.mktemp("slurm")
    env = {**os.environ, "MSCI_SLURM_DIR": str(state)}
    start = subprocess.run(["bash", str(SCRIPT), "start"], capture_output=True, text=True, env=env, timeout=1500)
    if start.returncode != 0:
        pytest.fail(f"SLURM did not start:\n{start.stdout}\n{start.stderr[-3000:]}")
    conf = start.stdout.strip().splitlines()[-1].removeprefix("export SLURM_CONF=")
    os.environ["SLURM_CONF"] = conf
    try:
        yield conf
    finally:
        os.environ.pop("SLURM_CONF", None)
        subprocess.run(["bash", str(SCRIPT), "stop"], env=env, timeout=120)


def submitted_jobs() -> pd.DataFrame:
    """Every job the test cluster still remembers (MinJobAge keeps finished ones): id, comment, GPUs, state."""
    out = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    rows = []
    for line in out.splitlines():
        fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
        if "JobId" in fields:
            rows.append({"job_id": fields["JobId"], "comment": fields.get("Comment", ""),
                         "gres": fields.get("TresPerJob", "") + fields.get("TresPerNode", ""),
                         "state": fields.get("JobState", "")})
    return pd.DataFrame(rows, columns=["job_id", "comment", "gres", "state"])


def _rule_of(comment: str) -> str:
    return comment.removeprefix("rule_").split("_wildcards_")[0]


def test_workflow_through_slurm_matches_a_local_run_and_reruns_one_model(slurm, demo_run, tmp_path):
    # A copy of the session's finished tiny run, kept to one CPU model (ridge) and one GPU model (the mlp, on
    # ivis features, which need a GPU too), with CITE's cell types, ivis features and models deleted: SLURM
    # runs those again (the cell types as one group job), the blends and the submission, and must write what
    # the local run wrote. A model's artifacts depend on neither the other models nor on which of
    # their inputs were made where. Each SLURM job costs seconds of polling, so the test keeps to the fewest
    # jobs that show each behaviour.
    local, cluster = demo_run, tmp_path / "cluster"
    shutil.copytree(local, cluster, symlinks=True)
    cite = cluster / "results" / "cite"
    for path in [*cite.glob("cell_type.*"), *(cite / "features" / f"{f}.parquet" for f in ("cell_type", "ivis"))]:
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    shutil.rmtree(cite / "models")
    snakefile, tiny = workflow_with_models(tmp_path, SLURM_MODELS)
    args = ("-s", str(snakefile), "--configfile", str(tiny), *SLURM_ARGS, "--", "results/submission.csv")
    before = set(submitted_jobs()["job_id"])
    run_snakemake(cluster, *args)
    jobs = submitted_jobs()
    jobs = jobs[~jobs["job_id"].isin(before)]
    assert (jobs["state"] == "COMPLETED").all(), jobs
    rules = jobs["comment"].map(_rule_of)
    # The group job cell_type runs both its rules (rules cell_type and features_cell_type).
    assert sorted(rules) == ["cell_type_cell_type_features_cell_type", "ensemble", "ensemble", "features_ivis",
                             "submission", "train_model", "train_model"], jobs
    gpu = jobs["gres"].str.contains("gpu")
    assert gpu[rules == "features_ivis"].all()
    trained = jobs[rules == "train_model"]
    assert gpu[trained.index].sum() == 1 and trained.loc[gpu[trained.index], "comment"].str.contains("mlp").all()
    # Same config and seed: byte-identical features and predictions of every model.
    outputs = sorted(p.relative_to(cluster) for p in [*cite.glob("models/*/*.h5ad"), *cite.glob("features/*.parquet")])
    assert len(outputs) == 3 * len(SLURM_MODELS) + 5
    for path in outputs:
        assert (cluster / path).read_bytes() == (local / path).read_bytes(), path
    ev = pd.read_csv(cluster / "resources" / "demo" / "data" / "evaluation_ids.csv")
    sub = pd.read_csv(cluster / "results" / "submission.csv")
    assert list(sub["row_id"]) == list(ev["row_id"]) and sub["target"].notna().all()
    # A partial rerun through SLURM: only that model and what follows it are submitted.
    before = set(submitted_jobs()["job_id"])
    run_snakemake(cluster, *args[:-2], "--config", "models={mlp: {modality_params: {cite: {dropout: 0.2}}}}",
                  *args[-2:])
    again = submitted_jobs()
    again = again[~again["job_id"].isin(before)]
    assert sorted(again["comment"].map(_rule_of)) == ["ensemble", "submission", "train_model"], again
    assert again["comment"].str.contains("mlp").sum() == 1


def test_a_two_worker_study_through_slurm_fills_one_study(slurm, demo_run, tmp_path):
    # The finished tiny run's CITE features and folds; one study of the MLP, filled by two SLURM jobs at once
    # (one CPU and 2 GB each on the 2-CPU test node, no GPU: the node's one would serialise them), each trial long
    # enough (epochs) that both workers take some.
    run = tmp_path / "run"
    shutil.copytree(demo_run, run, symlinks=True)
    snakefile, tiny = workflow_with_models(tmp_path, ("ridge", "mlp"))
    (tmp_path / "tune.yaml").write_text(
        "models: {mlp: {modalities: [cite], params: {epochs: 150, patience: 150, batch_size: 32, n_bags: 1}}}\n"
        "tune: {n_trials: 6, n_workers: 2, models: {mlp: {lr: {low: 1.0e-4, high: 1.0e-2, log: true}}}}\n")
    before = set(submitted_jobs()["job_id"])
    run_snakemake(run, "-s", str(snakefile), "--configfile", str(tiny), str(tmp_path / "tune.yaml"), *SLURM_ARGS,
                  "--set-threads", "tune_worker=1", "--set-resources", "tune_worker:gpu=0",
                  "tune_worker:mem_mb=2000", "--", "tune")
    jobs = submitted_jobs()
    jobs = jobs[~jobs["job_id"].isin(before)]
    assert (jobs["state"] == "COMPLETED").all(), jobs
    assert sorted(jobs["comment"].map(_rule_of)) == ["tune_results", "tune_study", "tune_worker", "tune_worker"], jobs
    trials = pd.read_csv(run / "results" / "cite" / "tune" / "mlp" / "trials.csv")
    finished = trials[trials["state"].isin(["COMPLETE", "PRUNED"])]
    assert len(finished) == 6 and set(finished["worker"]) == {0, 1}, trials
