"""What limits a simulated set of ``bench/model_table.py``: its oracle, and a learner given each cell's true state.

The simulator draws every target from the cell's latent state plus noise that no input carries (CITE:
each protein's own measurement noise; Multiome: the Poisson draw of the counts), and draws the inputs
from the same state through noisy counts. Per set and task this prints the private-day score (mean
per-cell Pearson on the private-day test cells, every target, as ``model_table`` scores the models) of

* ``oracle`` — each cell's expected targets given its state (Multiome: the mean of fresh count draws at
  its rates and sequencing depth, ``msci.simulate.simulated_truth``): a reference above what any model
  of the inputs can expect to reach;
* ``state_krr`` — kernel ridge trained on the training cells' true states (standardised) and targets,
  its length scale and ridge chosen by 3-fold CV on training cells: what a model reaches when it
  knows the state exactly but must learn the state → targets map from the training cells.

``model_table``'s goal table sets the oracle beside the best simple method's score: the headroom. Where
``state_krr`` comes near the oracle while every model on the inputs stays well below, the limit is
the state the inputs carry, not the learner. No workflow runs; the sets are regenerated from their
seeds (the same files ``model_table`` runs on).

Run: ``.venv/bin/python bench/ceiling.py [--sets 12:1600 13:2000 14:10000:wide]`` (minutes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(REPO / "bench"))

from model_table import SETS, parse_set, set_sizes  # noqa: E402
from record import footer, save, table  # noqa: E402

TASKS = ("cite", "multi")
COLUMNS = {"oracle": "oracle", "state_krr": "kernel ridge on the true state"}
GRID = {"length_scale": [1.0, 2.0, 4.0, 8.0], "alpha": [0.01, 0.1, 1.0]}
SEARCH_CELLS = 2000  # training cells the grid search runs on (the chosen model then fits all of them)


def state_krr(state: np.ndarray, y: np.ndarray, train: np.ndarray, scored: np.ndarray, seed: int = 0) -> np.ndarray:
    """Kernel ridge from the standardised true state to the targets, tuned on training cells only."""
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GridSearchCV
    from sklearn.preprocessing import StandardScaler

    from msci.metrics import mean_row_pearson
    from msci.models.kernel import KernelRidgeRegressor

    X = StandardScaler().fit(state[train]).transform(state).astype(np.float32)
    rows = np.flatnonzero(train)
    rows = np.random.default_rng(seed).choice(rows, min(SEARCH_CELLS, len(rows)), replace=False)
    search = GridSearchCV(KernelRidgeRegressor(row_standardize=False), GRID, cv=3,
                          scoring=make_scorer(mean_row_pearson)).fit(X[rows], y[rows])
    model = KernelRidgeRegressor(row_standardize=False, **search.best_params_).fit(X[train], y[train])
    return model.predict(X[scored])


def set_scores(seed: int, cells: int, width: str, draws: int) -> dict[str, dict[str, float]]:
    """Per task: the oracle's and the state learner's mean per-cell Pearson on the set's private-day test cells."""
    from msci.metrics import row_pearson
    from msci.simulate import SPLITS, SimulationConfig, simulated_truth

    config = SimulationConfig.from_dict({"seed": seed, **set_sizes(cells, width)})
    out = {}
    for m, t in simulated_truth(config, draws=draws).items():
        train = (t.cells["split"] == "train").to_numpy()
        private = ~train & (t.cells["day"] == SPLITS[m]["private"]).to_numpy()
        y = t.targets[private]
        out[m] = {"oracle": float(row_pearson(y, t.expected[private]).mean()),
                  "state_krr": float(row_pearson(y, state_krr(t.state, t.targets, train, private)).mean())}
    return out


def render(doc: dict, part: str | None = None) -> str:
    head = ["set", *(f"{label}, {task}" for task in ("CITE", "Multiome") for label in COLUMNS.values())]
    rows = [[name, *(f"{r[m][c]:.4f}" for m in TASKS for c in COLUMNS)] for name, r in doc["results"]["sets"].items()]
    note = f"private-day score; the oracle's Multiome expectation from {doc['results']['draws']} count draws per cell"
    return table(head, rows) + "\n\n" + footer(doc, note)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=list(SETS), help="as bench/model_table.py's")
    ap.add_argument("--draws", type=int, default=32, help="fresh count draws averaged per Multiome cell")
    args = ap.parse_args()
    sets = {}
    for spec in args.sets:
        name, folder, seed, cells, width = parse_set(spec)
        sets[name] = set_scores(seed, cells, width, args.draws)
        for m, scores in sets[name].items():
            for c, v in scores.items():
                print(f"{folder}_{m}_{c}_private: {v:.4f}", flush=True)
    save("ceiling", {"sets": sets, "draws": args.draws}, vars(args))


if __name__ == "__main__":
    main()
