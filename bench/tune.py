"""Trials per hour of a hyperparameter study (target `tune`) of the CITE MLP on the demo, with 1 and 2 workers.

One run folder: the demo's CITE data, features and folds made once (``--until tune_study``); then two studies
of the same MLP under two names, one filled by a single worker with 2 threads, one by 2 workers with 1 thread
each, both with ``snakemake --cores CORES`` (default 2) and the same ``--trials``. Each study's time is its
``tune`` call's wall time (the study made afresh, the workers, the summary). Saved as
``bench/results/tune.json``.

Run: ``.venv/bin/python bench/tune.py --workdir DIR [--trials 6] [--epochs E]`` (about 20 min on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from record import fmt, footer, save, table  # noqa: E402
from repo_config import default_models  # noqa: E402

SPACE = {"lr": {"low": 1.0e-4, "high": 1.0e-2, "log": True}, "dropout": {"low": 0.0, "high": 0.5}}


def config(name: str, workers: int, trials: int, epochs: int | None) -> dict:
    """The demo's CITE task with one MLP (the default one, renamed ``name``) and its study."""
    mlp = default_models()["mlp"]
    if epochs:
        mlp = {**mlp, "params": {**(mlp.get("params") or {}), "epochs": epochs}}
    return {"modalities": ["cite"], "models": {name: {**mlp, "modalities": ["cite"]}},
            "tune": {"n_trials": trials, "n_workers": workers, "models": {name: SPACE}}}


def snakemake(work: Path, cfg: dict, *args: str, cores: int) -> float:
    path = work / "bench_tune.yaml"
    path.write_text(yaml.safe_dump(cfg))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
                    "--configfile", str(path), "--cores", str(cores), "--resources", "gpu=1", *args],
                   check=True, cwd=work, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def measure(args) -> dict:
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    snakemake(work, config("mlp_1w", 1, args.trials, args.epochs), "--until", "tune_study", cores=args.cores)
    out = {}
    for workers in (1, 2):
        name = f"mlp_{workers}w"
        threads = max(1, args.cores // workers)
        # CPU workers: without a GPU here, the workers' gpu=1 would let only one run at a time.
        seconds = snakemake(work, config(name, workers, args.trials, args.epochs), "--set-threads",
                            f"tune_worker={threads}", "--set-resources", "tune_worker:gpu=0", "--", "tune",
                            cores=args.cores)
        trials = pd.read_csv(work / "results" / "cite" / "tune" / name / "trials.csv")
        states = trials["state"].value_counts().to_dict()
        out[str(workers)] = {"seconds": seconds, "threads_per_worker": threads, "states": states,
                             "trials_per_hour": args.trials * 3600 / seconds,
                             "trials_by_worker": trials["worker"].value_counts().sort_index().to_dict()}
        print(f"{workers} worker(s) × {threads} thread(s): {args.trials} trials in {seconds:.0f} s, "
              f"{out[str(workers)]['trials_per_hour']:.1f} trials/hour ({states})", flush=True)
    out["speedup_2_vs_1"] = out["2"]["trials_per_hour"] / out["1"]["trials_per_hour"]
    print(f"speedup_2_vs_1: {out['speedup_2_vs_1']:.2f}")
    return out


def render(doc: dict, part: str | None = None) -> str:
    res = doc["results"]
    rows = [[w, res[w]["threads_per_worker"], f"{res[w]['seconds']:,.0f} s", fmt(res[w]["trials_per_hour"], 1),
             ", ".join(f"{k.lower()} {v}" for k, v in res[w]["states"].items())] for w in ("1", "2")]
    text = table(["workers", "threads each", "wall time", "trials per hour", "trials"], rows)
    note = f"{doc['config']['trials']} trials each; 2 workers: {res['speedup_2_vs_1']:.2f}× the trials per hour"
    return "\n\n".join([text, footer(doc, note)])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", default="tune_bench")
    ap.add_argument("--trials", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=None, help="the MLP's epochs (default: its config's)")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    results = measure(args)
    print("\n" + render(json.loads(save("tune", results, vars(args)).read_text())))


if __name__ == "__main__":
    main()
