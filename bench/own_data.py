"""Scores of the default workflow on the shared real datasets, through the own-data (AnnData/MuData) path.

* CITE-seq: NeurIPS 2021 BMMC subset, RNA → 134 proteins; train = batch s1d1, test = s1d2 (another
  donor), test cells scored against their own proteins.
* Multiome: muon's PBMC subset, ATAC counts (TF-IDF) → 45 genes (log1p CP10k); a seeded random 30 %
  of the cells is the test set.

Prints, per modality, the test-cell score (mean per-cell Pearson) of each model, the blend, and the
baseline that predicts every cell as the training cells' mean profile, beside each model's CV.
The ``ridge`` model is the TruncatedSVD + ridge baseline.

Run: ``.venv/bin/python bench/own_data.py [--real ../shared/data/real] [--workdir DIR] [--cores 2]``
(about 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from record import fmt, footer, save, table  # noqa: E402

CITE_TEST_BATCH = "s1d2"  # CITE test cells: this donor's batch
MULTI_TEST_SHARE = 0.3  # Multiome test cells: this random share
TEST_CELLS = {"cite": f"donor {CITE_TEST_BATCH}", "multi": f"random {MULTI_TEST_SHARE:.0%}"}
TASKS = {"cite": "CITE", "multi": "Multiome"}


def write_config(real: Path, workdir: Path, seed: int) -> Path:
    import mudata as md

    md.set_options(pull_on_update=False)
    multiome = md.read_h5mu(real / "muon_pbmc_multiome_subset" / "test_rna_atac.h5mu")
    rng = np.random.default_rng(seed)
    multiome["atac"].obs["split"] = np.where(rng.random(multiome.n_obs) < MULTI_TEST_SHARE, "test", "train")
    multiome.write(workdir / "multiome.h5mu")
    cite = real / "neurips2021_bmmc_cite_starter"
    config = {"input": {
        "cite": {"format": "anndata", "inputs": str(cite / "cite_starter.output_rna.h5ad"),
                 "targets": str(cite / "cite_starter.output_mod2.h5ad"),
                 "test": {"column": "batch", "value": CITE_TEST_BATCH},
                 "obs": {"day": "batch", "cell_type": "cell_type"}},
        "multi": {"format": "mudata", "path": str(workdir / "multiome.h5mu"), "inputs": "atac", "targets": "rna",
                  "normalize": "tfidf", "target_normalize": "log1p_cp10k",
                  "test": {"column": "split", "value": "test"}},
    }}
    path = workdir / "real.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def collect(workdir: Path) -> dict:
    """Per task: test and training cell counts, each model's CV and test score, the blend's, the baseline's."""
    import pandas as pd

    results = workdir / "results"
    score = json.loads((results / "score.json").read_text())
    out = {}
    for m, s in score.items():
        ens = json.loads((results / m / "ensemble" / "metrics.json").read_text())
        out[m] = {
            "test_cells": s["n_cells"], "test_split": TEST_CELLS[m],
            "train_cells": len(pd.read_parquet(results / m / "folds.parquet")),
            "models": {name: {"cv": json.loads((results / m / "models" / name / "metrics.json").read_text())[
                "cv_pearson"], "test": test} for name, test in s["models"].items()},
            "blend": {"holdout_cv": ens["cv_pearson_holdout"], "in_sample_cv": ens["cv_pearson_in_sample"],
                      "test": s["pearson"]},
            "mean_profile_baseline": {"test": s["baseline_mean_profile"]},
        }
    return out


def render(doc: dict, part: str | None = None) -> str:
    """Each model's CV and test score per task, the blend's (held-out-half CV, in-sample CV) and the baseline's."""
    res = doc["results"]["tasks"]
    tasks = [m for m in TASKS if m in res]
    names = sorted({n for m in tasks for n in res[m]["models"]}, key=lambda n: (n != "ridge", n))
    header = ["model"]
    for m in tasks:
        header += [f"{TASKS[m]} CV", f"{TASKS[m]} test ({res[m]['test_split']}, {res[m]['test_cells']:,} cells)"]
    rows = []
    for n in names:
        row = [n + (" (SVD + ridge baseline)" if n == "ridge" else "")]
        for m in tasks:
            got = res[m]["models"].get(n)
            row += [fmt(got["cv"], 3), fmt(got["test"], 3)] if got else ["–", "–"]
        rows.append(row)
    blend = ["blend"]
    for m in tasks:
        b = res[m]["blend"]
        blend += [f"{fmt(b['holdout_cv'], 3)} held-out halves ({fmt(b['in_sample_cv'], 3)} in sample)",
                  fmt(b["test"], 3)]
    base = ["training mean profile"]
    for m in tasks:
        base += ["–", fmt(res[m]["mean_profile_baseline"]["test"], 3)]
    train = ", ".join(f"{TASKS[m]} {res[m]['train_cells']:,}" for m in tasks)
    note = (f"mean per-cell Pearson; training cells: {train}; "
            f"workflow {doc['results']['workflow_seconds'] / 60:.0f} min")
    return table(header, rows + [blend, base]) + "\n\n" + footer(doc, note)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(REPO.parent / "shared" / "data" / "real"))
    ap.add_argument("--workdir", default=str(REPO / "bench" / "out" / "own_data"))
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="seed of the Multiome random split")
    args = ap.parse_args()
    workdir = Path(args.workdir).resolve()  # Snakemake runs in the workdir: paths relative to here would break
    workdir.mkdir(parents=True, exist_ok=True)
    config = write_config(Path(args.real).resolve(), workdir, args.seed)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
                    "--configfile", str(config), "--cores", str(args.cores), "--resources", "gpu=1", "--quiet"],
                   check=True)
    seconds = time.perf_counter() - t0
    tasks = collect(workdir)
    for m, r in tasks.items():
        print(f"{m}_test_cells: {r['test_cells']}")
        for name, s in r["models"].items():
            print(f"{m}_{name}: cv {s['cv']:.4f} test {s['test']:.4f}")
        b = r["blend"]
        print(f"{m}_blend: holdout_cv {b['holdout_cv']:.4f} cv_in_sample {b['in_sample_cv']:.4f} test {b['test']:.4f}")
        print(f"{m}_mean_profile_baseline: test {r['mean_profile_baseline']['test']:.4f}")
    print(f"workflow_seconds: {seconds:.0f}")
    save("own_data", {"tasks": tasks, "workflow_seconds": seconds}, vars(args))


if __name__ == "__main__":
    main()
