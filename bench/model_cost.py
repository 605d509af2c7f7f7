"""What each model costs at the competition's size, and the default run's model fits estimated from it.

Per task and model (the defaults of config.yaml, and ``EXTRA``'s), one fold's fit at the competition's cell
counts (CITE 70,988 training cells, Multiome 105,942; the fold holds out one of ``folds.n_splits``), on random
low-rank features as wide as the model's feature families are at full size, predicting the targets' width (CITE
140 proteins, Multiome its ``targets.n_components`` + 1 codes), then the prediction of the held-out fold and of
every test cell.
Each case runs in its own process, so its peak RSS (VmHWM) is its own: data, model and prediction.

Iterative models are timed on a short fit (neural networks: one epoch of one network; XGBoost: a few rounds)
and scaled to their configured maximum (epochs × networks, rounds): early stopping only shortens it, so the
estimates are upper bounds. A model's run is ``n_splits`` fold fits plus the day-out fit.

Run: ``.venv/bin/python bench/model_cost.py`` (``make bench``; about 15 minutes on 2 cores);
``--scale 0.1`` for a tenth of the cells.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(REPO / "bench"))

from full_size import FULL  # noqa: E402
from record import footer, save, table  # noqa: E402
from repo_config import default_models, optional_models, workflow_config  # noqa: E402
from scale import _rss_mb  # noqa: E402

# Training and test cells at the competition's size.
TASKS = {m: FULL[m][:2] for m in FULL}
# Columns of the families without a configured width, at the competition's size (genes: the proteins' matched
# genes; svd_chrom: its per-chromosome components; ivis: the CITE embedding).
WIDTHS = {"svd_chrom": 1_100, "genes": 140, "qc": 4, "ivis": 64, "cell_type": 7}
SHORT = {"mlp": {"epochs": 1, "n_bags": 1}, "resnet": {"epochs": 1, "n_bags": 1},
         "cnn1d": {"epochs": 1, "n_bags": 1}, "xgboost": {"n_estimators": 10}}
# Measured whether default or optional (optional_models.yaml): the field's simple methods, and XGBoost, a default
# until bench/model_table.py found its hours bought the blend about nothing.
EXTRA = ("krr", "knn", "xgboost")
THREADS = 2  # rule train_model's threads


def cases(config: dict) -> list[dict]:
    """Every (model, task) of the default run, and the extra models', with resolved params and feature width."""
    from msci.models.registry import REGISTRY

    width = widths(config)
    defaults, optional = default_models(), optional_models()
    models = {**defaults, **{n: optional[n] for n in EXTRA if n not in defaults}}
    out = []
    for name, entry in models.items():
        for m in entry["modalities"]:
            feats = entry["features"][m] if isinstance(entry["features"], dict) else entry["features"]
            params = {**REGISTRY[entry["type"]]().get_params(), **(entry.get("params") or {}),
                      **((entry.get("modality_params") or {}).get(m) or {})}
            out.append({"model": name, "type": entry["type"], "task": m, "params": params,
                        "width": sum(width[f] for f in feats), "targets": target_width(config, m),
                        "default": name in defaults})
    return out


def target_width(config: dict, task: str) -> int:
    """Columns a model predicts at full size: CITE's proteins, Multiome's ``targets.n_components`` codes + 1."""
    return FULL["cite"][3] if task == "cite" else config["targets"]["n_components"] + 1


def widths(config: dict) -> dict[str, int]:
    """Columns of each feature family at the competition's size: the configured components, else ``WIDTHS``."""
    return {**WIDTHS, **{f: config["features"][f]["n_components"] for f in ("svd", "lsi", "bm25")}}


def data(n: int, width: int, targets: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features and targets sharing a low-rank cell state, so the models have something to fit."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 8)).astype(np.float32)
    X = z @ rng.normal(size=(8, width)).astype(np.float32) + rng.normal(size=(n, width)).astype(np.float32)
    Y = z @ rng.normal(size=(8, targets)).astype(np.float32) + 0.5 * rng.normal(size=(n, targets)).astype(np.float32)
    return X, Y


def one(case: dict, scale: float, n_splits: int) -> dict:
    """One fold's fit and predictions for ``case`` (in this process), with its time and peak RSS."""
    from msci.cv import fit_held_out
    from msci.models.registry import make_model

    (cells, test_cells), targets = TASKS[case["task"]], case["targets"]
    n_train, n_test = max(int(cells * scale), 50), max(int(test_cells * scale), 50)
    X, Y = data(n_train + n_test, case["width"], targets)
    valid = np.arange(n_train) % n_splits == 0
    params = {**case["params"], **SHORT.get(case["type"], {}), "n_jobs": None}
    model = make_model(case["type"], {k: v for k, v in params.items() if k in case["params"]}, seed=0, threads=THREADS)
    t0 = time.perf_counter()
    held = fit_held_out(model, X[:n_train], Y[:n_train], np.flatnonzero(~valid), np.flatnonzero(valid),
                        X_test=X[n_train:], groups=np.arange(n_train) % 8)
    total = time.perf_counter() - t0
    units, per_unit = iterations(model)
    return {"n_fit": int(held.info.get("n_fit", (~valid).sum())), "n_predicted": int(valid.sum() + n_test),
            "width": case["width"], "targets": targets, "seconds": total, "units_run": units,
            "seconds_per_unit": per_unit, "peak_rss_mb": _rss_mb(), "pearson": held.score}


def iterations(model) -> tuple[int, float]:
    """Epochs or boosting rounds the short fit ran, and seconds per one (0 for a model fit in one go)."""
    info = getattr(model, "fit_info_", {})
    if "seconds_per_epoch" in info:  # neural networks
        return int(info["epochs_run"]), float(info["seconds_per_epoch"])
    if hasattr(model, "model_") and hasattr(model.model_, "get_booster"):  # XGBoost
        rounds = model.model_.get_booster().num_boosted_rounds()
        return int(rounds), float(info["train_seconds"]) / rounds
    return 1, 0.0


def full_units(case: dict) -> int:
    """Epochs × networks, or boosting rounds, at the configured maximum (1 for a model fit in one go)."""
    p = case["params"]
    if "n_estimators" in p:
        return int(p["n_estimators"])
    if "epochs" in p:
        return int(p["epochs"]) * int(p.get("n_bags", 1))
    return 1


def estimate(case: dict, measured: dict, fits: int) -> float:
    """Seconds for the model's whole run: its fits, each the short fit's fixed part (scaling, predicting) plus its
    iterations scaled to the configured maximum."""
    iterating = measured["seconds_per_unit"] * measured["units_run"]
    per_fit = measured["seconds"] - iterating + measured["seconds_per_unit"] * full_units(case)
    return per_fit * fits


def measure(case: dict, scale: float, n_splits: int) -> dict:
    cmd = [sys.executable, __file__, "--one", json.dumps(case), "--scale", str(scale), "--n-splits", str(n_splits)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def render(doc: dict, part: str | None = None) -> str:
    """Per model and task: one fold's fit, its peak RSS and the whole run's estimate; the default run's total."""
    res = doc["results"]
    rows = [[c["model"] + ("" if c["default"] else " (not default)"), c["task"],
             f"{c['n_fit']:,} × {c['width']} → {c['targets']}", f"{c['seconds']:.1f}",
             f"{c['peak_rss_mb'] / 1024:.2f}", f"{c['estimate_s'] / 3600:.2f}"] for c in res["cases"]]
    head = ["model", "task", "fit cells × features → targets", "one fold (s)", "peak RSS (GB)",
            "whole run (h, at most)"]
    total = res["default_total_h"]
    note = (f"default run's model fits at most {total:.1f} h ({res['fits']} fits per model); "
            f"scale {res['scale']}")
    return table(head, rows) + "\n\n" + footer(doc, note)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="share of the competition's cell counts")
    ap.add_argument("--only", nargs="*", default=None, help="models to measure (default: all)")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--n-splits", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(json.loads(args.one), args.scale, args.n_splits)))
        return
    config = workflow_config()
    n_splits = config["folds"]["n_splits"]
    fits = n_splits + int(config["folds"]["day_out"])  # per model: one per fold and the day-out fit
    results = []
    for case in cases(config):
        if args.only and case["model"] not in args.only:
            continue
        got = {**case, **measure(case, args.scale, n_splits)}
        got["estimate_s"] = estimate(case, got, fits)
        results.append(got)
        key = f"{case['model']}_{case['task']}"
        print(f"{key}_fold_seconds: {got['seconds']:.1f}", flush=True)
        print(f"{key}_peak_rss_mb: {got['peak_rss_mb']:.0f}", flush=True)
        print(f"{key}_run_hours_at_most: {got['estimate_s'] / 3600:.2f}", flush=True)
    total = sum(c["estimate_s"] for c in results if c["default"]) / 3600
    print(f"default_model_fits_hours_at_most: {total:.2f}")
    save("model_cost", {"cases": results, "fits": fits, "scale": args.scale, "default_total_h": total}, vars(args))


if __name__ == "__main__":
    main()
