"""Does good-validation CV predict the private day better than plain CV? Measured on simulated runs.

The method's claim: training cells an adversarial classifier mistakes for test cells ("good
validation") score models the way the private leaderboard (a later day than every training day)
will. For several simulator seeds this script runs the whole workflow on demo data (whose private
day is later and shifted) with the default models plus ridge variants (so each modality has several
models to rank), then compares, per modality, each validation score of each model

* ``cv`` — all OOF cells, ``good`` — good-validation OOF cells, ``day_out`` — trained without the
  latest training day, scored on it,

with the model's hidden **private** score: mean per-cell Pearson of its (decoded) test predictions
on the private-day cells, on every target. It prints per seed and modality the Spearman correlation
between the models' ranking by the score and by the private score, and the mean absolute gap
between score and private score; then the means over seeds, and a Markdown table for the README.

Run: ``.venv/bin/python bench/validation_claim.py [--seeds 11 12 13] [--cells 1200] [--workdir DIR]``
(about 10 minutes per seed on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(REPO / "bench"))

from record import fmt, footer, save, table  # noqa: E402

TASKS = {"cite": "CITE", "multi": "Multiome"}
LABELS = {"cv": "all OOF cells (`cv_pearson`)", "good": "good-validation cells",
          "day_out": "day out (`cv_pearson_day_out`)"}
SCORES = {"cv": "cv_pearson", "good": "cv_pearson_good_validation", "day_out": "cv_pearson_day_out"}
# Extra cheap models, so that each modality has more than two models to rank.
VARIANTS = {
    "ridge_a1": {"type": "ridge", "modalities": ["cite", "multi"], "features": ["svd"], "params": {"alpha": 1.0}},
    "ridge_a1000": {"type": "ridge", "modalities": ["cite", "multi"], "features": ["svd"],
                    "params": {"alpha": 1000.0}},
    "ridge_celltype": {"type": "ridge", "modalities": ["cite", "multi"], "features": ["svd", "cell_type"],
                       "params": {"alpha": 10.0}},
}


def write_config(workdir: Path, seed: int, cells: int) -> Path:
    n_test = cells // 2
    config = {"demo": {"seed": seed,
                       "cite": {"n_train": cells, "n_test": n_test, "n_inputs": 1500, "n_targets": 48},
                       "multi": {"n_train": cells, "n_test": n_test, "n_inputs": 4000, "n_targets": 400}},
              "models": VARIANTS}
    path = workdir / "claim.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def private_scores(workdir: Path, modality: str, extra: dict[str, Path] | None = None) -> dict[str, float]:
    """Each model's mean per-cell Pearson on the private-day test cells' hidden targets (all targets).

    ``extra``: more prediction files (target codes of the test cells) to score, by name.
    """
    from msci.io.matrix import MatrixFile
    from msci.metrics import row_pearson
    from msci.target_codes import load_codec

    meta = pd.read_csv(workdir / "resources" / "demo" / "data" / "metadata.csv", index_col="cell_id")
    tech = {"cite": "citeseq", "multi": "multiome"}[modality]
    meta = meta[meta["technology"] == tech]
    train = pd.read_parquet(workdir / "results" / modality / "folds.parquet").index
    latest = meta.loc[meta.index.isin(train), "day"].max()
    truth = pd.read_hdf(workdir / "resources" / "demo" / "hidden" / f"test_{modality}_targets.h5")
    codec = load_codec(str(workdir / "results" / modality / "targets" / "codec.npz"))[0]
    out = {}
    paths = {p.parent.name: p for p in sorted((workdir / "results" / modality / "models").glob("*/test.h5ad"))}
    for name, path in {**paths, **(extra or {})}.items():
        f = MatrixFile(path)
        cells = np.asarray(f.obs_names)
        private = meta.reindex(cells)["day"].to_numpy() > latest
        pred = codec.decode(f.read()[private])
        y = truth.loc[cells[private], list(codec.target_names)].to_numpy()
        out[name] = float(row_pearson(y, pred).mean())
    return out


def measure(workdir: Path, modality: str) -> dict:
    from scipy.stats import spearmanr

    private = private_scores(workdir, modality)
    names = sorted(private)
    metrics = {n: json.loads((workdir / "results" / modality / "models" / n / "metrics.json").read_text())
               for n in names}
    out = {"private": private, "scores": {}}
    for key, field in SCORES.items():
        vals = np.array([np.nan if metrics[n].get(field) is None else metrics[n][field] for n in names])
        p = np.array([private[n] for n in names])
        ok = np.isfinite(vals)
        rho = float(spearmanr(vals[ok], p[ok]).statistic) if ok.sum() >= 3 else float("nan")
        out["scores"][key] = {"spearman": rho, "mean_abs_gap": float(np.abs(vals[ok] - p[ok]).mean()),
                              "values": dict(zip(names, vals.tolist(), strict=True))}
    blend = json.loads((workdir / "results" / modality / "ensemble" / "metrics.json").read_text())
    score = json.loads((workdir / "results" / "score.json").read_text())
    out["blend"] = {"holdout": blend["cv_pearson_holdout"], "day_out": blend["cv_pearson_day_out"],
                    "in_sample": blend["cv_pearson_in_sample"], "private_submission": score[modality]["private"]}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[11, 12, 13])
    ap.add_argument("--cells", type=int, default=1200, help="training cells per modality (test: half)")
    ap.add_argument("--workdir", default=str(REPO / "bench" / "out" / "validation_claim"))
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    results, seconds = {}, {}
    for seed in args.seeds:
        workdir = Path(args.workdir) / f"seed{seed}"
        workdir.mkdir(parents=True, exist_ok=True)
        config = write_config(workdir, seed, args.cells)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
                        "--cores", str(args.cores), "--resources", "gpu=1", "--configfile", str(config), "-q"],
                       check=True, cwd=workdir)
        seconds[str(seed)] = time.perf_counter() - t0
        print(f"seed{seed}_workflow_seconds: {seconds[str(seed)]:.0f}", flush=True)
        for m in ("cite", "multi"):
            r = results[(seed, m)] = measure(workdir, m)
            for key, v in r["scores"].items():
                print(f"seed{seed}_{m}_{key}: spearman {v['spearman']:.3f} mean_abs_gap {v['mean_abs_gap']:.4f}")
            print(f"seed{seed}_{m}_private: " + " ".join(f"{n} {x:.4f}" for n, x in r["private"].items()))
            print(f"seed{seed}_{m}_blend: " + " ".join(f"{k} {x:.4f}" for k, x in r["blend"].items()), flush=True)
    print("\n| modality | score | Spearman with the private ranking (mean; per seed) | mean abs gap to private |")
    print("| --- | --- | --- | --- |")
    for m in ("cite", "multi"):
        for key in SCORES:
            rhos = [results[(s, m)]["scores"][key]["spearman"] for s in args.seeds]
            gaps = [results[(s, m)]["scores"][key]["mean_abs_gap"] for s in args.seeds]
            print(f"| {m} | {key} | {np.nanmean(rhos):.2f} ({', '.join(f'{x:.2f}' for x in rhos)}) | "
                  f"{np.mean(gaps):.4f} |")
            print(f"{m}_{key}_spearman_mean: {np.nanmean(rhos):.3f}")
            print(f"{m}_{key}_mean_abs_gap_mean: {np.mean(gaps):.4f}")
    print("\n| modality | seed | blend held-out-half CV | blend day-out | blend in-sample | submission private |")
    print("| --- | --- | --- | --- | --- | --- |")
    for (s, m), r in sorted(results.items(), key=lambda x: (x[0][1], x[0][0])):
        b = r["blend"]
        print(f"| {m} | {s} | {b['holdout']:.4f} | {b['day_out']:.4f} | {b['in_sample']:.4f} | "
              f"{b['private_submission']:.4f} |")
    runs = [{"seed": s, "modality": m, **r} for (s, m), r in results.items()]
    save("validation_claim", {"runs": runs, "workflow_seconds": seconds}, vars(args))


def _ranking_rows(runs: list[dict]) -> list[list[str]]:
    """Per task and validation score: Spearman with the private ranking (mean; per seed) and the mean gap."""
    rows = []
    for m, task in TASKS.items():
        mine = sorted((r for r in runs if r["modality"] == m), key=lambda r: r["seed"])
        for key in SCORES:
            rhos = [r["scores"][key]["spearman"] for r in mine]
            finite = [x for x in rhos if x is not None and math.isfinite(x)]
            gaps = [r["scores"][key]["mean_abs_gap"] for r in mine]
            mean_rho = sum(finite) / len(finite) if finite else None
            rows.append([task, LABELS[key], f"{fmt(mean_rho, 2)} ({', '.join(fmt(x, 2) for x in rhos)})",
                         fmt(sum(gaps) / len(gaps))])
    return rows


def _blend_rows(runs: list[dict]) -> list[list[str]]:
    """Per task and seed: the blend's held-out-half, day-out and in-sample CV and the submission's private score."""
    order = sorted(runs, key=lambda r: (list(TASKS).index(r["modality"]), r["seed"]))
    return [[TASKS[r["modality"]], r["seed"], *(fmt(r["blend"][k]) for k in
                                                ("holdout", "day_out", "in_sample", "private_submission"))]
            for r in order]


def render(doc: dict, part: str | None = None) -> str:
    """Which validation score ranks the models as the private day does, and the blend's figures per seed."""
    runs = doc["results"]["runs"]
    ranking = table(["task", "validation score", "Spearman with the private ranking (mean; per seed)",
                     "mean abs gap to private"], _ranking_rows(runs))
    blend = table(["task", "seed", "blend held-out halves", "blend day out", "blend in sample",
                   "submission private"], _blend_rows(runs))
    minutes = sum(doc["results"]["workflow_seconds"].values()) / 60
    return ranking + "\n\n" + blend + "\n\n" + footer(doc, f"the workflow runs took {minutes:.0f} min")


if __name__ == "__main__":
    main()
