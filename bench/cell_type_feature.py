"""Which cell-type feature should training cells get? Measured on the demo CITE task.

Test cells' types are hidden, so they get the classifier's prediction. Training cells can get their
annotated type (cleaner than the test cells' feature), or the classifier's out-of-fold prediction
(the same route as test cells) as a one-hot or as class probabilities. For each simulator seed this
script runs the workflow up to the CITE features, then cross-validates XGBoost (optional_models.yaml) and the
default MLP (features svd, genes, cell_type; early-stopped on an inner split) with each variant, and prints CV
and the hidden private-day score (mean per-cell Pearson of the fold-averaged test predictions).

Run: ``.venv/bin/python bench/cell_type_feature.py [--seeds 0 11] [--workdir DIR]`` (~5 min per seed).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(REPO / "bench"))

from record import fmt, footer, save, table  # noqa: E402
from repo_config import default_models, optional_models, target_files  # noqa: E402

VARIANTS = {"annotated one-hot": ("annotated", "onehot"), "predicted one-hot": ("predicted", "onehot"),
            "predicted probabilities": ("predicted", "probabilities")}
LABELS = {"annotated one-hot": "annotated type, one-hot (the original's)",
          "predicted one-hot": "out-of-fold predicted type, one-hot",
          "predicted probabilities": "out-of-fold class probabilities (default)"}
NEEDED = ["results/cite/features/svd.parquet", "results/cite/features/genes.parquet",
          "results/cite/cell_type.parquet", "results/cite/folds.parquet", "results/cite/targets/split_codecs.npz"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 11])
    ap.add_argument("--workdir", default=str(REPO / "bench" / "out" / "cell_type_feature"))
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    from msci.cv import cross_validate
    from msci.features.cell_type import cell_type_features
    from msci.features.table import load_features
    from msci.metrics import row_pearson
    from msci.models.registry import make_model
    from msci.split_codecs import load_split_codes
    from msci.target_codes import load_codec

    defaults = {**optional_models(), **default_models()}  # XGBoost: optional now
    rows = []
    for seed in args.seeds:
        work = Path(args.workdir) / f"seed{seed}"
        work.mkdir(parents=True, exist_ok=True)
        (work / "seed.yaml").write_text(yaml.safe_dump({"demo": {"seed": seed}, "modalities": ["cite"]}))
        subprocess.run([sys.executable, "-m", "snakemake", *NEEDED, "-s", str(REPO / "Snakefile"), "--directory",
                        str(work), "--cores", str(args.cores), "-q", "--configfile", str(work / "seed.yaml")],
                       check=True, cwd=work)
        res = work / "results" / "cite"
        cells = pd.read_parquet(res / "ingest" / "cells.parquet")
        folds = pd.read_parquet(res / "folds.parquet")
        splits = load_split_codes(target_files(res / "targets"))
        train_ids = splits.cells
        target_names = list(load_codec(str(res / "targets" / "codec.npz"))[0].target_names)
        test_ids = cells.index[cells["split"] == "test"].to_numpy()
        meta = pd.read_csv(work / "resources" / "demo" / "data" / "metadata.csv", index_col="cell_id")
        private = meta.loc[test_ids, "day"].to_numpy() > meta.loc[train_ids, "day"].max()
        truth = pd.read_hdf(work / "resources" / "demo" / "hidden" / "test_cite_targets.h5")
        y_private = truth.loc[test_ids[private], target_names].to_numpy()
        table = pd.read_parquet(res / "cell_type.parquet")
        base = [str(res / "features" / f"{f}.parquet") for f in ("svd", "genes")]
        fold = folds.loc[train_ids, "fold"].to_numpy()
        good = folds.loc[train_ids, "good_validation"].to_numpy(bool)
        for label, (train, encoding) in VARIANTS.items():
            ct = cell_type_features(table, train=train, encoding=encoding)
            ct_path = work / f"cell_type_{train}_{encoding}.parquet"
            ct.to_parquet(ct_path)
            X = load_features([*base, str(ct_path)], train_ids).to_numpy()
            X_test = load_features([*base, str(ct_path)], test_ids).to_numpy()
            for model in ("xgboost", "mlp"):
                params = defaults[model].get("params", {})  # the rest: the estimator's defaults
                res_cv = cross_validate(lambda k, m=model, p=params: make_model(m, p, seed=k, threads=args.cores),
                                        X, splits, fold, X_test, stop_labels=good)
                cv = float(res_cv.pearson.mean())
                priv = float(row_pearson(y_private, res_cv.test[private]).mean())
                rows.append({"seed": seed, "feature": label, "model": model, "cv": cv, "private": priv})
                print(f"seed{seed}_{model}_{label.replace(' ', '_')}: cv {cv:.4f} private {priv:.4f}", flush=True)
    df = pd.DataFrame(rows)
    print("\n| feature for training cells | XGBoost CV | XGBoost private | MLP CV | MLP private |")
    print("| --- | --- | --- | --- | --- |")
    mean = df.groupby(["feature", "model"])[["cv", "private"]].mean()
    for label in VARIANTS:
        x, m = mean.loc[(label, "xgboost")], mean.loc[(label, "mlp")]
        print(f"| {label} | {x['cv']:.4f} | {x['private']:.4f} | {m['cv']:.4f} | {m['private']:.4f} |")
    print(f"(means over seeds {', '.join(map(str, args.seeds))})")
    save("cell_type_feature", {"rows": rows}, vars(args))


def render(doc: dict, part: str | None = None) -> str:
    """Per cell-type feature variant, each model's CV and private score, the means over seeds."""
    rows = doc["results"]["rows"]

    def mean(label: str, model: str, key: str) -> float:
        vals = [r[key] for r in rows if r["feature"] == label and r["model"] == model]
        return sum(vals) / len(vals)

    body = [[LABELS[label], *(fmt(mean(label, m, k)) for m in ("xgboost", "mlp") for k in ("cv", "private"))]
            for label in VARIANTS]
    seeds = ", ".join(str(s) for s in dict.fromkeys(r["seed"] for r in rows))
    head = ["feature for training cells", "XGBoost CV", "XGBoost private", "MLP CV", "MLP private"]
    return table(head, body) + "\n\n" + footer(doc, f"means over seeds {seeds}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
