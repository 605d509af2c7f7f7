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
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]


def write_config(real: Path, workdir: Path, seed: int) -> Path:
    import mudata as md

    md.set_options(pull_on_update=False)
    multiome = md.read_h5mu(real / "muon_pbmc_multiome_subset" / "test_rna_atac.h5mu")
    rng = np.random.default_rng(seed)
    multiome["atac"].obs["split"] = np.where(rng.random(multiome.n_obs) < 0.3, "test", "train")
    multiome.write(workdir / "multiome.h5mu")
    cite = real / "neurips2021_bmmc_cite_starter"
    config = {"input": {
        "cite": {"format": "anndata", "inputs": str(cite / "cite_starter.output_rna.h5ad"),
                 "targets": str(cite / "cite_starter.output_mod2.h5ad"),
                 "test": {"column": "batch", "value": "s1d2"}, "obs": {"day": "batch", "cell_type": "cell_type"}},
        "multi": {"format": "mudata", "path": str(workdir / "multiome.h5mu"), "inputs": "atac", "targets": "rna",
                  "normalize": "tfidf", "target_normalize": "log1p_cp10k",
                  "test": {"column": "split", "value": "test"}},
    }}
    path = workdir / "real.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", default=str(REPO.parent / "shared" / "data" / "real"))
    ap.add_argument("--workdir", default=str(REPO / "bench" / "out" / "own_data"))
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0, help="seed of the Multiome random split")
    args = ap.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = write_config(Path(args.real), workdir, args.seed)
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
                    "--configfile", str(config), "--cores", str(args.cores), "--resources", "gpu=1", "--quiet"],
                   check=True)
    score = json.loads((workdir / "results" / "score.json").read_text())
    for m, s in score.items():
        print(f"{m}_test_cells: {s['n_cells']}")
        for name, test in s["models"].items():
            cv = json.loads((workdir / "results" / m / "models" / name / "metrics.json").read_text())["cv_pearson"]
            print(f"{m}_{name}: cv {cv:.4f} test {test:.4f}")
        ens = json.loads((workdir / "results" / m / "ensemble" / "metrics.json").read_text())
        print(f"{m}_blend: holdout_cv {ens['cv_pearson_holdout']:.4f} cv_in_sample {ens['cv_pearson_in_sample']:.4f} "
              f"test {s['pearson']:.4f}")
        print(f"{m}_mean_profile_baseline: test {s['baseline_mean_profile']:.4f}")


if __name__ == "__main__":
    main()
