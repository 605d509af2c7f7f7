"""The field's kernel ridge as published (Guanlab-dengkw, NeurIPS 2021), on the cells of ``model_table``'s runs.

``model_table``'s ``krr`` is Guanlab's kernel (per-cell z-scored components, RBF length scale 10, alpha 0.2) on
the workflow's ``svd`` features: 64 components on both tasks. As published, the method reduces RNA to 300
TruncatedSVD components and ATAC to 100 (fit on training and test cells), fits alpha 0.2 for RNA → protein and
0.1 for ATAC → RNA, predicts the targets' TruncatedSVD(70) codes where the targets are wider, and may average
kernel ridges fit on halves of the donor × day batches (five reshuffles). Per set and task this fits

* ``guanlab`` — that method on all training cells, one kernel ridge;
* ``guanlab_bagged`` — the same, averaged over the halves of five reshuffles of the batches;
* ``svd_fixed`` — Guanlab's kernel at its fixed length scale and alpha (the type's defaults) on the workflow's
  own ``svd`` features (the run's ``results/<task>/features/svd.parquet``), onto the same target codes;
* ``svd_tuned`` — the same with the length scale and alpha picked by leave-one-out (``tune``, the default krr's),

on the inputs the set's ``model_table`` run ingested (its workdir's ``results/<task>/ingest``), and scores it as
``model_table`` scores models: mean per-cell Pearson over every target on the private-day test cells (simulated
sets; the real data: its test cells). ``model_table``'s goal counts them all among the simple methods. Fit on
every training cell at once, they have more cells than the workflow's fold models, whose test predictions are
the folds' mean: the comparison, if anything, favours them.

Run after ``bench/model_table.py``, on its workdir: ``.venv/bin/python bench/guanlab.py [--sets …] [--workdir …]``
(minutes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(REPO / "bench"))

from model_table import SETS, TASKS, parse_set  # noqa: E402
from record import footer, save, table  # noqa: E402

# As published: input components and alpha per task, the length scale, target codes where the targets are wider.
COMPONENTS = {"cite": 300, "multi": 100}
ALPHA = {"cite": 0.2, "multi": 0.1}
LENGTH_SCALE = 10.0
TARGET_CODES = 70
BAGS = 5
COLUMNS = {"guanlab": "Guanlab's kernel ridge as published", "guanlab_bagged": "the same, bagged on batch halves",
           "svd_fixed": "Guanlab's kernel on the workflow's svd", "svd_tuned": "the same, width by leave-one-out"}
REAL = "real data"


def scored_cells(workdir: Path, modality: str) -> tuple[np.ndarray, pd.DataFrame]:
    """The cells scored and their true targets: the private-day test cells (simulated) or every test cell (real)."""
    from msci.io.matrix import MatrixFile

    ingest = workdir / "results" / modality / "ingest"
    names = list(MatrixFile(ingest / "targets.h5ad").var_names)
    if (ingest / "test_targets.h5ad").exists():
        truth = MatrixFile(ingest / "test_targets.h5ad")
        block = truth.read()
        dense = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
        frame = pd.DataFrame(dense, index=truth.obs_names, columns=truth.var_names)
        return frame.index.to_numpy(), frame[names]
    cells = pd.read_parquet(ingest / "cells.parquet")
    latest = cells.loc[cells["split"] == "train", "day"].max()
    private = cells.index[(cells["split"] == "test") & (cells["day"] > latest)].to_numpy()
    truth = pd.read_hdf(workdir / "resources" / "demo" / "hidden" / f"test_{modality}_targets.h5")
    return private, truth.loc[private, names]


def batches(cells: pd.DataFrame) -> np.ndarray:
    """Each cell's donor × day batch."""
    return (cells["donor"].astype(str) + "/" + cells["day"].astype(str)).to_numpy()


def task_scores(workdir: Path, modality: str, seed: int = 0) -> dict[str, float]:
    """Private-day scores of Guanlab's method (one kernel ridge, bagged) and of its kernel on the workflow's own SVD
    features (fixed width, tuned), on one task of one run."""
    from msci.chunked_svd import ChunkedTruncatedSVD
    from msci.io.matrix import MatrixFile
    from msci.metrics import row_pearson
    from msci.models.kernel import KernelRidgeRegressor

    ingest = workdir / "results" / modality / "ingest"
    inputs, targets = MatrixFile(ingest / "inputs.h5ad"), MatrixFile(ingest / "targets.h5ad")
    Z = pd.DataFrame(ChunkedTruncatedSVD(COMPONENTS[modality], random_state=seed).fit_transform(inputs),
                     index=inputs.obs_names)
    train = np.asarray(targets.obs_names)
    codec = ChunkedTruncatedSVD(TARGET_CODES, random_state=seed) if targets.shape[1] > TARGET_CODES else None
    block = targets.read()
    Y = block.toarray() if hasattr(block, "toarray") else np.asarray(block)
    Y = codec.fit_transform(Y) if codec is not None else Y
    scored, truth = scored_cells(workdir, modality)
    groups = batches(pd.read_parquet(ingest / "cells.parquet").loc[train])
    own = pd.read_parquet(workdir / "results" / modality / "features" / "svd.parquet")
    published = {"alpha": ALPHA[modality], "length_scale": LENGTH_SCALE}
    fits = {"guanlab": (Z, published), "guanlab_bagged": (Z, {**published, "n_bags": BAGS}),
            "svd_fixed": (own, {}), "svd_tuned": (own, {"tune": True})}
    out = {}
    for name, (features, params) in fits.items():
        model = KernelRidgeRegressor(**params, random_state=seed)
        pred = model.fit(features.loc[train].to_numpy(), Y, groups=groups).predict(features.loc[scored].to_numpy())
        pred = pred @ codec.components_ if codec is not None else pred
        out[name] = float(row_pearson(truth.to_numpy(), pred).mean())
    return out


def render(doc: dict, part: str | None = None) -> str:
    head = ["set", *(f"{label}, {task}" for task in ("CITE", "Multiome") for label in COLUMNS.values())]
    rows = [[name, *(f"{r[m][c]:.4f}" if m in r else "–" for m in TASKS for c in COLUMNS)]
            for name, r in doc["results"]["sets"].items()]
    note = ("private-day score (real data: its test cells), on the cells model_table's runs ingested; published: "
            f"RNA {COMPONENTS['cite']} / ATAC {COMPONENTS['multi']} components; every column on the targets' "
            f"{TARGET_CODES} codes where wider")
    return table(head, rows) + "\n\n" + footer(doc, note)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=list(SETS), help="as bench/model_table.py's")
    ap.add_argument("--real", action=argparse.BooleanOptionalAction, default=True,
                    help="also the shared real data's run (model_table's workdir/real)")
    ap.add_argument("--workdir", default=str(REPO / "bench" / "out" / "model_table"), help="model_table's workdir")
    args = ap.parse_args()
    runs = {name: folder for name, folder, *_ in map(parse_set, args.sets)}
    runs.update({REAL: "real"} if args.real else {})
    sets = {}
    for name, folder in runs.items():
        workdir = Path(args.workdir) / folder
        if not (workdir / "results").is_dir():
            sys.exit(f"{workdir}: no model_table run there; run bench/model_table.py first")
        sets[name] = {m: task_scores(workdir, m) for m in TASKS}
        for m, scores in sets[name].items():
            for c, v in scores.items():
                print(f"{folder}_{m}_{c}_private: {v:.4f}", flush=True)
    save("guanlab", {"sets": sets}, vars(args))


if __name__ == "__main__":
    main()
