"""What compressing the Multiome targets to SVD codes costs: exact CV Pearson per k, side by side.

Simulated Multiome data of the competition's format (``msci.simulate``), SVD features of the peaks,
5 folds; ridge and a small MLP trained on the exact targets (``none``) and on codes of k = 16, 64
and 128 components, every score the exact per-cell Pearson on the genes. Prints ``key: value``
lines and saves ``bench/results/target_compression.json``.
Run: ``.venv/bin/python bench/target_compression.py [--help]`` (defaults: 2,000 cells, 2,000 peaks, 500 genes).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import fmt, footer, save, table  # noqa: E402

MODELS = {"ridge": ("ridge", {"alpha": 10.0}),
          "mlp": ("mlp", {"hidden": [256], "epochs": 15, "batch_size": 256, "patience": 3})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cells", type=int, default=2000)
    ap.add_argument("--peaks", type=int, default=2000)
    ap.add_argument("--genes", type=int, default=500)
    ap.add_argument("--ks", type=int, nargs="+", default=[16, 64, 128])
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    from msci.chunked_svd import ChunkedTruncatedSVD
    from msci.cv import cross_validate, cv_metrics
    from msci.io.matrix import MatrixFile, write_matrix
    from msci.models.registry import make_model
    from msci.simulate import ModalitySize, simulate_arrays
    from msci.target_codes import encode_targets, load_codec

    size = ModalitySize(n_train=args.cells, n_test=10, n_inputs=args.peaks, n_targets=args.genes)
    cells, inputs, _, targets, genes = simulate_arrays("multi", size, seed=args.seed)
    train = (cells["split"] == "train").to_numpy()
    X = ChunkedTruncatedSVD(64, random_state=0).fit_transform(inputs).astype(np.float32)[train]
    Y = targets[train].astype(np.float32)
    ids = np.array([f"c{i}" for i in range(len(Y))], dtype=object)
    folds = np.arange(len(Y)) % args.folds
    print(f"cells: {len(Y)}\npeaks: {args.peaks}\ngenes: {args.genes}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_matrix(tmp / "y.h5ad", Y, ids, genes)
        scores, rows = {}, []
        for method, k in [("none", None)] + [("svd", k) for k in args.ks]:
            label = "exact" if k is None else f"k{k}"
            t0 = time.perf_counter()
            summary = encode_targets(str(tmp / "y.h5ad"), str(tmp / f"{label}.h5ad"), str(tmp / f"{label}.npz"),
                                     method=method, n_components=k or 1)
            _, _, rho = load_codec(tmp / f"{label}.npz")
            codes = np.asarray(MatrixFile(tmp / f"{label}.h5ad").read())
            row = {"targets": label, "k": k, "codes": int(codes.shape[1]), "mean_rho": float(summary["mean_rho"]),
                   "encode_seconds": time.perf_counter() - t0, "cv": {}, "seconds": {}}
            rows.append(row)
            print(f"encode_{label}_seconds: {row['encode_seconds']:.2f}")
            print(f"mean_rho_{label}: {summary['mean_rho']:.4f}")
            for name, (kind, params) in MODELS.items():
                t0 = time.perf_counter()
                res = cross_validate(lambda f, kind=kind, params=params: make_model(kind, params, seed=f, threads=2),
                                     X, codes, folds, X[:5], rho=rho)
                cv = cv_metrics(codes, res.oof, cells[train].reset_index(drop=True), rho=rho)["cv_pearson"]
                scores[(name, label)] = row["cv"][name] = float(cv)
                row["seconds"][name] = time.perf_counter() - t0
                print(f"{name}_cv_pearson_{label}: {cv:.4f}")
                print(f"{name}_seconds_{label}: {row['seconds'][name]:.1f}")
        for name in MODELS:
            for k in args.ks:
                print(f"{name}_cv_change_k{k}_vs_exact: {scores[(name, f'k{k}')] - scores[(name, 'exact')]:+.4f}")
    save("target_compression", {"cells": len(Y), "peaks": args.peaks, "genes": args.genes, "models": MODELS,
                                "rows": rows}, vars(args))


def render(doc: dict, part: str | None = None) -> str:
    """Per target set (exact, then codes of k components): mean ρ and each model's exact CV on the genes."""
    res = doc["results"]
    names = list(res["models"])
    rows = []
    for r in res["rows"]:
        what = f"exact ({res['genes']:,} genes)" if r["k"] is None else f"{r['codes']} codes (k = {r['k']})"
        rows.append([what, fmt(r["mean_rho"], 3), *(fmt(r["cv"][n]) for n in names)])
    header = ["targets", "mean ρ", *(f"{'MLP' if n == 'mlp' else n} CV" for n in names)]
    note = (f"simulated Multiome, {res['cells']:,} training cells, {res['peaks']:,} peaks, "
            f"{doc['config']['folds']} folds, exact per-cell Pearson on the genes")
    return table(header, rows) + "\n\n" + footer(doc, note)


if __name__ == "__main__":
    main()
