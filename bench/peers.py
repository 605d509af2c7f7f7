"""What users would pick instead of msci, on the real development splits, scored as the workflow scores.

Per split of ``bench/liu.py`` (Liu et al. 2021: train on one batch's donors, predict the other batch's new
donors; B3 is never read), each peer fits on the training batch and predicts the test batch's proteins in the
targets' units (Seurat's CLR of the ADT counts, as the workflow's ``target_normalize: clr``):

* ``guanlab``: Guanlab-dengkw's kernel ridge as published (openproblems predict_modality): TruncatedSVD 300 of the
  log1p CP10k RNA, fit on training and test cells; per-cell z-scored; exact RBF kernel ridge (length scale 10,
  alpha 0.2) onto the targets' TruncatedSVD 70 codes;
* ``knn``: openproblems' ``knnr_py``: TruncatedSVD 50 of the log1p CP10k RNA (training and test cells), each test
  cell the mean targets of its 100 nearest training cells (Euclidean);
* ``totalvi``: scvi-tools' TOTALVI (1.4.x), a query mapped as its docs describe: one model of the reference cells
  (RNA and protein counts) and the query cells (RNA counts; proteins all zero, so missing for their batch), batch
  key ``Batch``, the settings of its CITE-seq + scRNA-seq integration tutorial (normal latent, two decoder layers)
  and its epoch heuristic; the query's proteins as its denoised expression
  (25 samples, protein background included, in the reference batch), then Seurat's CLR per cell.

Each peer runs in a child process: fit + predict wall time and its peak RSS (``wait4``). totalVI runs in the peers'
environment (``make peers``: ``.venv-peers``, ``envs/peers.txt``); without it its rows say so. Scores: openproblems
predict_modality's metrics (``msci.field_metrics``) on every test cell.

Run: ``.venv/bin/python bench/peers.py [--splits b1_to_b2 b2_to_b1] [--peers guanlab knn totalvi]`` (``make peers``
runs it; totalVI takes most of its time: about half an hour per split on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEERS_PYTHON = REPO / ".venv-peers" / "bin" / "python"
PEERS = ("guanlab", "knn", "totalvi")
LABELS = {"guanlab": "Guanlab's kernel ridge (as published)", "knn": "KNN (openproblems knnr_py)",
          "totalvi": "totalVI (scvi-tools 1.4)"}
GUANLAB = {"components": 300, "alpha": 0.2, "length_scale": 10.0, "target_codes": 70}
KNN = {"components": 50, "n_neighbors": 100}
TOTALVI_SAMPLES = 25


def load_split(cache: Path, split: str):
    """The split's cells: RNA counts (all cells of both batches), ADT counts, the training and test masks."""
    import anndata as ad
    from liu import SPLITS

    train_batch, test_batch = SPLITS[split]
    rna, adt = ad.read_h5ad(cache / "rna.h5ad"), ad.read_h5ad(cache / "adt.h5ad")
    batch = rna.obs["Batch"].astype(str).to_numpy()
    return rna, adt[rna.obs_names], batch == train_batch, batch == test_batch


def log_cp10k(counts):
    from msci.normalize import counts_per_10k

    return counts_per_10k(counts)


def clr(counts) -> np.ndarray:
    from msci.normalize import clr as seurat_clr

    out = seurat_clr(counts)
    return np.asarray(out.toarray() if hasattr(out, "toarray") else out, dtype=np.float32)


def fit_guanlab(rna, adt, train, test, seed: int) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD

    from msci.models.kernel import KernelRidgeRegressor

    X = TruncatedSVD(GUANLAB["components"], random_state=seed).fit_transform(log_cp10k(rna.X))
    Y = clr(adt.X[train])
    codec = TruncatedSVD(GUANLAB["target_codes"], random_state=seed).fit(Y)
    model = KernelRidgeRegressor(alpha=GUANLAB["alpha"], length_scale=GUANLAB["length_scale"], max_exact=len(Y))
    return model.fit(X[train], codec.transform(Y)).predict(X[test]) @ codec.components_


def fit_knn(rna, adt, train, test, seed: int) -> np.ndarray:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.neighbors import KNeighborsRegressor

    X = TruncatedSVD(KNN["components"], random_state=seed).fit_transform(log_cp10k(rna.X))
    return KNeighborsRegressor(n_neighbors=KNN["n_neighbors"]).fit(X[train], clr(adt.X[train])).predict(X[test])


def fit_totalvi(rna, adt, train, test, seed: int) -> np.ndarray:
    import scvi

    scvi.settings.seed = seed
    cells = rna[train | test].copy()
    proteins = np.asarray(adt.X[train | test].toarray(), dtype=np.float32)
    proteins[test[train | test]] = 0.0  # the query's proteins: missing for its whole batch
    cells.obsm["protein_expression"] = proteins
    cells.obs["batch"] = cells.obs["Batch"].astype(str)
    scvi.model.TOTALVI.setup_anndata(cells, batch_key="batch", protein_expression_obsm_key="protein_expression")
    model = scvi.model.TOTALVI(cells, latent_distribution="normal", n_layers_decoder=2)  # the tutorial's
    model.train()
    query = test[train | test]
    reference = str(cells.obs["batch"][~query].iloc[0])
    _, denoised = model.get_normalized_expression(indices=np.flatnonzero(query), n_samples=TOTALVI_SAMPLES,
                                                  return_mean=True,
                                                  transform_batch=[reference], include_protein_background=True,
                                                  sample_protein_mixing=False)
    return clr(np.asarray(denoised, dtype=np.float64))


FITS = {"guanlab": fit_guanlab, "knn": fit_knn, "totalvi": fit_totalvi}


def child(peer: str, cache: Path, split: str, out: Path, seed: int) -> None:
    """One peer on one split (in its own process): its test predictions and fit + predict seconds."""
    rna, adt, train, test = load_split(cache, split)
    t0 = time.perf_counter()
    pred = FITS[peer](rna, adt, train, test, seed)
    np.savez(out, pred=np.asarray(pred, np.float32), seconds=time.perf_counter() - t0)


def run_peer(peer: str, cache: Path, split: str, seed: int) -> dict:
    """The peer's predictions, seconds and peak RSS from a child process (the peers' Python for totalVI)."""
    python = PEERS_PYTHON if peer == "totalvi" else Path(sys.executable)
    if not python.exists():
        return {"skipped": f"no peers environment ({python.relative_to(REPO)}): run make peers"}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pred.npz"
        cmd = [str(python), str(Path(__file__)), "--child", peer, "--split", split, "--cache", str(cache),
               "--out", str(out), "--seed", str(seed)]
        proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(BENCH)})
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"peer {peer} on {split} failed (exit {os.waitstatus_to_exitcode(status)})")
        got = np.load(out)
        return {"pred": got["pred"], "seconds": float(got["seconds"]), "peak_rss_gb": usage.ru_maxrss / 1e6}


def score(truth: np.ndarray, pred: np.ndarray) -> dict:
    """openproblems predict_modality's metrics of ``pred`` against ``truth`` (cells × proteins)."""
    from msci.field_metrics import predict_modality_metrics

    return predict_modality_metrics(lambda: iter([(truth, pred)]), *truth.shape)


def render(doc: dict, part: str | None = None) -> str:
    """Each peer's test metrics, fit + predict time and peak RSS per split (a skipped peer says why)."""
    from record import fmt, footer, table

    splits = doc["results"]["splits"]
    head = ["peer", "split", "test cells", "per-cell r", "per-protein r", "RMSE", "fit + predict", "peak RSS"]
    body = []
    for split, res in splits.items():
        for peer, r in res["peers"].items():
            if "skipped" in r:
                body.append([LABELS[peer], split, f"{res['n_test_cells']:,}", f"not run: {r['skipped']}", "", "", "",
                             ""])
                continue
            body.append([LABELS[peer], split, f"{res['n_test_cells']:,}", fmt(r["mean_pearson_per_cell"], 4),
                         fmt(r["mean_pearson_per_gene"], 4), fmt(r["rmse"], 4), f"{r['seconds'] / 60:.1f} min",
                         f"{r['peak_rss_gb']:.2f} GB"])
    note = "trained on one batch's cells, scored on the other batch's (new donors); targets: Seurat's CLR of ADT counts"
    if doc["results"].get("merged_from"):
        note += f"; the rows not rerun are from the run at commit {doc['results']['merged_from']}"
    return table(head, body) + "\n\n" + footer(doc, note)


def main() -> None:
    from liu import SPLITS, prepare
    from record import load, save

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    ap.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    ap.add_argument("--cache", type=Path, default=None, help="bench/liu.py's cache folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--merge", action="store_true", help="keep the saved results of the splits and peers not rerun")
    ap.add_argument("--child", choices=list(PEERS), help=argparse.SUPPRESS)
    ap.add_argument("--split", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.cache, args.split, args.out, args.seed)
        return
    cache = prepare(args.cache)["rna.h5ad"].parent
    results: dict = {}
    for split in args.splits:
        _, adt, _, test = load_split(cache, split)
        truth = clr(adt.X[test])
        results[split] = {"n_test_cells": int(test.sum()), "peers": {}}
        for peer in args.peers:
            got = run_peer(peer, cache, split, args.seed)
            if "skipped" in got:
                results[split]["peers"][peer] = {"skipped": got["skipped"]}
                print(f"{split}_{peer}: skipped ({got['skipped']})", flush=True)
                continue
            metrics = score(truth, got.pop("pred"))
            results[split]["peers"][peer] = {**got, **metrics}
            print(f"{split}_{peer}: per-cell Pearson {metrics['mean_pearson_per_cell']:.4f}, per-protein "
                  f"{metrics['mean_pearson_per_gene']:.4f}, RMSE {metrics['rmse']:.4f}, {got['seconds']:.0f} s, "
                  f"peak RSS {got['peak_rss_gb']:.2f} GB", flush=True)
    print(json.dumps({s: {p: r.get("mean_pearson_per_cell") for p, r in v["peers"].items()}
                      for s, v in results.items()}))
    merged_from = None
    if args.merge and (saved := load("peers")) is not None:
        merged_from = saved.get("results", {}).get("merged_from") or saved["commit"]
        for split, res in saved["results"]["splits"].items():
            kept = results.setdefault(split, {"n_test_cells": res["n_test_cells"], "peers": {}})["peers"]
            for peer, r in res["peers"].items():
                kept.setdefault(peer, r)
    save("peers", {"splits": results, "merged_from": merged_from},
         {k: v for k, v in vars(args).items() if k in ("splits", "peers", "seed", "merge")})


if __name__ == "__main__":
    main()
