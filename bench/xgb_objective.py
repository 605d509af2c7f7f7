"""XGBoost objectives side by side: our analytic Pearson vs the original's autograd cosine vs squared error.

Same simulated CITE-like data (SVD features → ~100 protein targets), same trees, same learning
rate; prints ``key: value`` lines. Run: ``.venv/bin/python bench/xgb_objective.py [--help]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import fmt, footer, save, table  # noqa: E402

OBJECTIVES = {"ours": "ours (analytic Pearson)", "autograd_cosine": "original (autograd cosine, Hessian of ones)",
              "squarederror": "`reg:squarederror`"}
CHECKPOINTS = (10, 50, 100, 300)


def autograd_cosine(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The original solution's objective: torch autograd of Σ(1 − cosine), Hessian of ones."""
    import torch

    p = torch.tensor(y_pred, dtype=torch.float32, requires_grad=True)
    t = torch.tensor(y_true, dtype=torch.float32).reshape(p.shape)
    loss = (1 - torch.nn.functional.cosine_similarity(p, t, dim=1)).sum()
    loss.backward()
    return p.grad.numpy().astype(np.float64), np.ones(p.shape)


def round_clock():
    """An XGBoost callback recording the wall time at the end of every boosting round."""
    import xgboost as xgb

    class RoundClock(xgb.callback.TrainingCallback):
        def before_training(self, model):
            self.t0, self.times = time.perf_counter(), []
            return model

        def after_iteration(self, model, epoch, evals_log):
            self.times.append(time.perf_counter() - self.t0)
            return False

    return RoundClock()


def train(objective, X, Y, Xv, Yv, rounds, args):
    import xgboost as xgb

    from msci.metrics import mean_row_pearson

    base = Y.mean(axis=0)
    clock = round_clock()
    model = xgb.XGBRegressor(objective=objective, n_estimators=rounds, learning_rate=args.learning_rate,
                             max_depth=args.max_depth, multi_strategy=args.multi_strategy, tree_method="hist",
                             n_jobs=args.threads, random_state=0, callbacks=[clock])
    model.fit(X, Y, base_margin=np.tile(base, (len(X), 1)))
    # Validation curve in one pass: add each round's trees to the running margin.
    pred, zero, curve = np.tile(base, (len(Xv), 1)), np.zeros((len(Xv), Y.shape[1])), []
    for k in range(rounds):
        pred = pred + model.predict(Xv, base_margin=zero, iteration_range=(k, k + 1))
        curve.append(mean_row_pearson(Yv, pred))
    return np.array(curve), np.array(clock.times)


def time_to(curve: np.ndarray, times: np.ndarray, quality: float) -> float:
    hit = np.flatnonzero(curve >= quality)
    return float(times[hit[0]]) if hit.size else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cells", type=int, default=3000, help="training + validation cells")
    ap.add_argument("--genes", type=int, default=2000)
    ap.add_argument("--targets", type=int, default=100)
    ap.add_argument("--components", type=int, default=64, help="SVD features")
    ap.add_argument("--rounds", type=int, default=300, help="round budget of every objective")
    ap.add_argument("--max-depth", type=int, default=6)
    ap.add_argument("--learning-rate", type=float, default=0.3)
    ap.add_argument("--multi-strategy", default="one_output_per_tree")
    ap.add_argument("--threads", type=int, default=2, help="threads of XGBoost and of torch")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import torch

    from msci.chunked_svd import ChunkedTruncatedSVD
    from msci.losses import PearsonObjective
    from msci.simulate import ModalitySize, simulate_arrays

    torch.set_num_threads(args.threads)
    cells, inputs, _, targets, _ = simulate_arrays("cite", ModalitySize(args.cells, 0, args.genes, args.targets),
                                                   args.seed)
    Z = ChunkedTruncatedSVD(args.components, random_state=args.seed).fit_transform(inputs).astype(np.float32)
    valid = np.random.default_rng(args.seed).random(len(Z)) < 0.2
    X, Y, Xv, Yv = Z[~valid], targets[~valid], Z[valid], targets[valid]
    print(f"data: {len(X)} train / {len(Xv)} valid cells, {Z.shape[1]} SVD features, {Y.shape[1]} targets")

    # (a) one objective evaluation on the training matrix, median of repeats.
    # XGBoost hands the objective float32 margins: time both on those.
    P = (np.tile(Y.mean(0), (len(Y), 1)) + 0.1 * np.random.default_rng(1).standard_normal(Y.shape)).astype(np.float32)
    calls = {}
    ours = PearsonObjective(Y, scale=Y.shape[1])  # what XGBoostRegressor hands XGBoost
    for name, fn in (("ours", lambda: ours(Y, P)), ("autograd", lambda: autograd_cosine(Y, P))):
        fn()
        reps = []
        for _ in range(50):
            t0 = time.perf_counter()
            fn()
            reps.append(time.perf_counter() - t0)
        calls[name] = float(np.median(reps))
    print(f"objective_call_ms_ours: {1e3 * calls['ours']:.2f}")
    print(f"objective_call_ms_autograd: {1e3 * calls['autograd']:.2f}")
    print(f"objective_call_ratio: {calls['autograd'] / calls['ours']:.2f}")

    # (b)–(d): the same trees and learning rate for all three objectives.
    objectives = {
        "ours": PearsonObjective(Y, scale=Y.shape[1]),
        "autograd_cosine": autograd_cosine,
        "squarederror": "reg:squarederror",
    }
    runs = {name: train(obj, X, Y, Xv, Yv, args.rounds, args) for name, obj in objectives.items()}
    for k in CHECKPOINTS:
        if k <= args.rounds:
            print("pearson_at_" + str(k) + ": " + ", ".join(f"{n}={c[k - 1]:.4f}" for n, (c, _) in runs.items()))
    for name, (curve, _) in runs.items():
        print(f"pearson_best_{name}: {curve.max():.4f} (round {int(curve.argmax()) + 1})")
    quality = runs["autograd_cosine"][0].max()
    t_quality = {n: time_to(c, t, quality) for n, (c, t) in runs.items()}
    for name, t in t_quality.items():
        print(f"seconds_to_autograd_best_{name}: {t:.2f}")
    print(f"time_to_quality_speedup: {t_quality['autograd_cosine'] / t_quality['ours']:.1f}")
    per_round = {n: t[-1] / len(t) for n, (_, t) in runs.items()}
    for name, t in per_round.items():
        print(f"round_ms_{name}: {1e3 * t:.1f}")
    print(f"round_time_ratio_vs_squarederror: {per_round['ours'] / per_round['squarederror']:.2f}")
    results = {
        "data": {"train_cells": len(X), "valid_cells": len(Xv), "features": int(Z.shape[1]),
                 "targets": int(Y.shape[1])},
        "objective_call_ms": {n: 1e3 * t for n, t in calls.items()},
        "objectives": {n: {"pearson_at": {str(k): float(c[k - 1]) for k in CHECKPOINTS if k <= args.rounds},
                           "best": float(c.max()), "best_round": int(c.argmax()) + 1,
                           "seconds_to_autograd_best": t_quality[n] if np.isfinite(t_quality[n]) else None,
                           "round_ms": 1e3 * per_round[n]} for n, (c, _) in runs.items()},
    }
    save("xgb_objective", results, vars(args))


def render(doc: dict, part: str | None = None) -> str:
    """The objectives side by side: Pearson after some rounds, best, time to the original's best, round time."""
    res = doc["results"]
    runs = res["objectives"]
    names = [n for n in OBJECTIVES if n in runs]
    shown = [k for k in ("10", "50", "300") if all(k in runs[n]["pearson_at"] for n in names)]
    calls = res["objective_call_ms"]
    seconds = [runs[n]["seconds_to_autograd_best"] for n in names]
    rows = [
        [f"validation per-cell Pearson after {' / '.join(shown)} rounds",
         *(" / ".join(fmt(runs[n]["pearson_at"][k]) for k in shown) for n in names)],
        ["best validation Pearson (round)", *(f"{fmt(runs[n]['best'])} ({runs[n]['best_round']})" for n in names)],
        [f"seconds to reach the original's best ({fmt(runs['autograd_cosine']['best'])})",
         *("never" if s is None else fmt(s, 2) for s in seconds)],
        ["ms per boosting round", *(fmt(runs[n]["round_ms"], 0) for n in names)],
        ["ms per objective call on the training matrix",
         *(fmt(calls[k], 2) if k in calls else "–" for k in ("ours", "autograd", "squarederror"))],
    ]
    d = res["data"]
    note = (f"{d['train_cells']:,} training / {d['valid_cells']:,} validation simulated CITE cells, "
            f"{d['features']} SVD features, {d['targets']} targets")
    return table(["figure", *(OBJECTIVES[n] for n in names)], rows) + "\n\n" + footer(doc, note)


if __name__ == "__main__":
    main()
