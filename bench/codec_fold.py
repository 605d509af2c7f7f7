"""Whether fitting the Multiome target codec on all training cells overstates the CV score: codec once vs per fold.

Rule encode_targets fitted the SVD basis of the Multiome targets (:mod:`msci.target_codes`) on every
training cell, so each fold's held-out cells helped choose the basis its predictions were decoded
through; it now fits one per CV split (:mod:`msci.split_codecs`). On simulated Multiome data
(``msci.simulate``) at several sizes, with the workflow's defaults (config.yaml filled in by the
schema, model parameters by their estimators: codes k, SVD features, ridge alpha, number of folds;
plain k-fold, as the simulation has no good-validation labels), this cross-validates each model
twice: (a) on codes of one codec fit on all training cells, as the workflow did; (b) with a codec
fit on each fold's training cells only, its held-out cells encoded by it, as the workflow does now
(the same figure as its CV on the same folds). Both are the exact mean per-cell Pearson on the
genes. Writes ``bench/results/codec_fold.json``.
Run: ``.venv/bin/python bench/codec_fold.py [--help]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from record import fmt, footer, save, table  # noqa: E402  (standard library only: rendering stays cheap)
from repo_config import workflow_config  # noqa: E402

NAME = "codec_fold"
TOLERANCE = 0.001  # the bound on |(a) − (b)| for keeping one codec for all folds


def model_params(cfg: dict[str, Any], name: str) -> tuple[str, dict[str, Any], list[str]]:
    """A configured model's type, Multiome parameters (the rest: its estimator's defaults) and feature families."""
    entry = cfg["models"][name]
    feats = entry["features"]
    feats = feats["multi"] if isinstance(feats, dict) else feats
    params = {**(entry.get("params") or {}), **(entry.get("modality_params") or {}).get("multi", {})}
    return entry["type"], params, feats


def feature_table(family: str, cfg: dict[str, Any], inputs_path: Path, tmp: Path) -> np.ndarray:
    """The workflow's ``svd`` or ``lsi`` features of all cells, fit on all cells (``features.fit_on: all``)."""
    if family == "svd":
        from msci.features.svd import svd_features

        table = svd_features(str(inputs_path), str(tmp / "svd.parquet"), seed=cfg["seed"], **cfg["features"]["svd"])
    elif family == "lsi":
        from msci.features.lsi import lsi_features

        table, _ = lsi_features(str(inputs_path), str(tmp / "lsi.parquet"), str(tmp / "lsi.json"), seed=cfg["seed"],
                                **cfg["features"]["lsi"])
    else:
        raise ValueError(f"{NAME}: feature family {family!r} not offered here (svd, lsi)")
    return table.to_numpy(np.float32)


def codec_settings(cfg: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments of ``encode_targets`` for the Multiome targets, as rule encode_targets passes them."""
    t = cfg["targets"]
    return {"method": t["compress"]["multi"], "n_components": t["n_components"], "n_iter": t["n_iter"],
            "chunk_rows": t["chunk_rows"], "seed": cfg["seed"]}


def fit_codes(Y: np.ndarray, ids: np.ndarray, genes: np.ndarray, settings: dict[str, Any], tmp: Path, label: str):
    """``(codec, codes, ρ)`` of the targets ``Y`` through ``encode_targets`` (files under ``tmp``)."""
    from msci.io.matrix import MatrixFile, write_matrix
    from msci.target_codes import encode_targets, load_codec

    write_matrix(tmp / f"{label}_y.h5ad", Y, ids, genes)
    encode_targets(str(tmp / f"{label}_y.h5ad"), str(tmp / f"{label}_codes.h5ad"), str(tmp / f"{label}_codec.npz"),
                   **settings)
    codec, _, rho = load_codec(tmp / f"{label}_codec.npz")
    return codec, np.asarray(MatrixFile(tmp / f"{label}_codes.h5ad").read(), dtype=np.float32), rho


def cv_codec_once(make, X, Y, ids, genes, folds, settings, cells, tmp: Path) -> dict[str, float]:
    """(a) The workflow's former CV: one codec on all training cells, ``cross_validate``, ``cv_metrics`` on its codes.

    Also the same out-of-fold predictions decoded and scored on the genes, which must agree (the codes' ρ is exact).
    """
    from msci.cv import cross_validate, cv_metrics
    from msci.metrics import row_pearson

    codec, codes, rho = fit_codes(Y, ids, genes, settings, tmp, "all")
    res = cross_validate(make, X, codes, folds, X[:1], rho=rho)
    workflow = cv_metrics(codes, res.oof, cells, rho=rho)["cv_pearson"]
    decoded = float(row_pearson(Y, codec.decode(res.oof)).mean())
    if abs(workflow - decoded) > 1e-4:
        raise AssertionError(f"{NAME}: CV on codes × ρ {workflow:.6f} differs from CV on decoded genes {decoded:.6f}")
    return {"cv_codec_all": decoded, "cv_workflow_figure": workflow}


def cv_codec_per_fold(make, X, Y, ids, genes, folds, settings, seed: int, tmp: Path) -> dict[str, float]:
    """(b) Each fold's codec fit on its training cells only; its held-out cells encoded by it, scored on the genes."""
    from msci.cv import fit_held_out
    from msci.metrics import row_pearson

    r = np.zeros(len(Y))
    for k in np.unique(folds):
        tr, va = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        codec, codes_tr, _ = fit_codes(Y[tr], ids[tr], genes, settings, tmp, f"fold{k}")
        codes = np.zeros((len(Y), codec.n_codes), np.float32)
        codes[tr] = codes_tr
        # The held-out cells' codes (decoder rows sum to zero, so no centring): watched by early
        # stopping only; the score below is on the decoded genes.
        codes[va] = Y[va] @ codec.decoder.T
        held = fit_held_out(make(int(k)), X, codes, tr, va, seed=seed + int(k))
        r[va] = row_pearson(Y[va], codec.decode(held.pred))
    return {"cv_codec_per_fold": float(r.mean())}


def measure(cfg: dict[str, Any], model: str, n_train: int, args: argparse.Namespace) -> dict[str, Any]:
    """Both CV figures of one configured model on one simulated Multiome set of ``n_train`` training cells."""
    from msci.io.matrix import write_matrix
    from msci.models.registry import make_model
    from msci.simulate import ModalitySize, simulate_arrays
    from msci.validation.folds import make_folds

    t0 = time.perf_counter()
    size = ModalitySize(n_train=n_train, n_test=args.test_cells, n_inputs=args.peaks, n_targets=args.genes)
    cells, inputs, peaks, targets, genes = simulate_arrays("multi", size, seed=args.seed)
    all_ids = np.array([f"c{i}" for i in range(len(cells))], dtype=object)
    cells.index = all_ids
    kind, params, families = model_params(cfg, model)
    f = cfg["folds"]
    folds = make_folds(cells, "kfold", f["n_splits"], cfg["seed"], day_out=False)["fold"].to_numpy()
    train = (cells["split"] == "train").to_numpy()
    Y, ids, train_cells = targets[train].astype(np.float32), all_ids[train], cells[train]
    settings = codec_settings(cfg)

    def make(k: int):
        return make_model(kind, params, seed=cfg["seed"] + k, threads=args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_matrix(tmp / "inputs.h5ad", inputs, all_ids, peaks)
        X = np.hstack([feature_table(fam, cfg, tmp / "inputs.h5ad", tmp) for fam in families])[train]
        once = cv_codec_once(make, X, Y, ids, genes, folds, settings, train_cells, tmp)
        per_fold = cv_codec_per_fold(make, X, Y, ids, genes, folds, settings, cfg["seed"], tmp)
    row = {"model": model, "params": make(0).get_params(), "features": families, "n_train": n_train,
           "n_peaks": args.peaks, "n_genes": args.genes,
           "n_folds": int(len(np.unique(folds))), "n_codes": settings["n_components"] + 1, **once, **per_fold}
    row["difference"] = row["cv_codec_all"] - row["cv_codec_per_fold"]
    row["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"{model} {n_train} cells: codec on all {row['cv_codec_all']:.4f}, per fold {row['cv_codec_per_fold']:.4f}, "
          f"difference {row['difference']:+.5f} ({row['seconds']} s)", flush=True)
    return row


def render(doc: dict, part: str | None = None) -> str:
    """The table of docs/validation.md: CV with the codec fit on all training cells vs per fold, per size."""
    rows = doc["results"]["rows"]
    body = [[r["model"], f"{r['n_peaks']:,} × {r['n_genes']:,}", f"{r['n_train']:,}", fmt(r["cv_codec_all"]),
             fmt(r["cv_codec_per_fold"]), f"{r['difference']:+.4f}"] for r in rows]
    worst = max(abs(r["difference"]) for r in rows)
    note = (f"{rows[0]['n_folds']} folds, {rows[0]['n_codes']} codes per cell, exact Pearson on the genes; "
            f"largest |difference| {worst:.4f}, {'within' if worst <= TOLERANCE else 'beyond'} {TOLERANCE}")
    header = ["model", "size (peaks × genes)", "training cells", "CV, codec on all training cells",
              "CV, codec per fold", "difference"]
    return table(header, body) + "\n\n" + footer(doc, note)


def main() -> None:
    """Measure every size, print each row, save the results JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, nargs="+", default=[1000, 2000, 4000], help="training cells, ridge")
    ap.add_argument("--mlp-cells", type=int, nargs="*", default=[],
                    help="training cells, the Multiome MLP (none by default: over 10 minutes at 300 cells on 2 cores)")
    ap.add_argument("--peaks", type=int, default=8000)
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--test-cells", type=int, default=200, help="test cells (only the SVD features see them)")
    ap.add_argument("--seed", type=int, default=5, help="simulation seed")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "workflow" / "scripts"))
    cfg = workflow_config()
    rows = [measure(cfg, "ridge", n, args) for n in args.cells]
    rows += [measure(cfg, "mlp", n, args) for n in args.mlp_cells]
    worst = max(abs(r["difference"]) for r in rows)
    save(NAME, {"rows": rows, "max_abs_difference": worst, "within_tolerance": worst <= TOLERANCE,
                       "tolerance": TOLERANCE}, vars(args))
    print(f"max |difference|: {worst:.5f} ({'≤' if worst <= TOLERANCE else '>'} {TOLERANCE})")


if __name__ == "__main__":
    main()
