"""Predict cell types from the training cells' annotated types, the same way for every cell.

Fold models are trained on annotated training cells. Each such cell is typed by the fold model that
did not see it (its out-of-fold prediction gives the reported accuracy), and each other cell (test
cells, whose types are hidden) by one fold model too, chosen by a seeded hash of the cell's id (so a cell
gets the same model whichever cells it comes with: a query of new cells types them the same way), so both
get probabilities of the same kind. The fold models are saved (``.skops``) for queries.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from msci.io.fitted import atomic_dir, load_sklearn, read_manifest, save_sklearn, write_manifest
from msci.validation.adversarial import make_classifier

log = logging.getLogger(__name__)
HIDDEN = "hidden"
UNKNOWN = "unknown"  # own data without a cell-type column


def fold_of(cell_ids: np.ndarray, k: int, seed: int) -> np.ndarray:
    """The fold model that types each non-training cell: a seeded hash of its id, modulo ``k``."""
    key = f"msci{seed:012d}"[-16:]
    h = pd.util.hash_array(np.asarray(cell_ids, dtype=str).astype(object), hash_key=key, categorize=False)
    return (h % np.uint64(k)).astype(np.int64)


def predict_cell_types(features: pd.DataFrame, cells: pd.DataFrame, classifier: str = "logistic",
                       n_splits: int = 5, seed: int = 0,
                       out_fitted: str | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Table of every cell: ``cell_type`` (annotated for annotated training cells, else predicted),
    ``annotated`` (the classifier learnt from it), ``predicted`` and ``p_<type>`` probabilities
    (out-of-fold for annotated cells, one fold model's for the others); plus metrics (OOF accuracy).
    ``out_fitted``: a folder for the fold models (:class:`CellTypeModels` reads it)."""
    meta = cells.loc[features.index]
    X = features.to_numpy(np.float32)
    train = (meta["split"] == "train").to_numpy() & (~meta["cell_type"].isin([HIDDEN, UNKNOWN])).to_numpy()
    y = meta["cell_type"].to_numpy()[train].astype(str)
    classes = np.unique(y)
    counts = np.bincount(np.searchsorted(classes, y)) if len(classes) else np.zeros(0, int)
    if len(classes) < 2 or counts.max() < 2:
        log.warning("fewer than two annotated cell types (or no type with two cells) among training cells: "
                    "every cell typed %r", UNKNOWN)
        out = pd.DataFrame({"cell_type": UNKNOWN, "annotated": False, "predicted": UNKNOWN,
                            f"p_{UNKNOWN}": np.float32(1)}, index=features.index)
        if out_fitted:
            with atomic_dir(out_fitted) as tmp:
                write_manifest(tmp, {"classes": [UNKNOWN], "k": 0, "seed": seed, "features": list(features.columns),
                                     "single": {}})
        return out, {"classifier": classifier, "oof_accuracy": None, "classes": [UNKNOWN],
                     "skipped": "fewer than two annotated cell types among training cells"}
    # Folds stratified on type; a type rarer than the folds is simply absent from some fold models.
    k = int(min(n_splits, max(2, counts.max())))
    proba = np.zeros((len(X), len(classes)))
    Xtr, tr_idx, other = X[train], np.flatnonzero(train), np.flatnonzero(~train)
    # Each other cell is typed by one fold model (by a seeded hash of its id), as each training cell is: a
    # mean over the fold models would be smoother than the training cells' out-of-fold probabilities.
    model_of = fold_of(features.index.to_numpy()[other], k, seed)
    with (atomic_dir(out_fitted) if out_fitted else nullcontext()) as folder:
        single = {}
        for i, (fit_rows, held) in enumerate(StratifiedKFold(k, shuffle=True, random_state=seed).split(Xtr, y)):
            rows = np.r_[tr_idx[held], other[model_of == i]]
            seen = np.unique(y[fit_rows])
            if len(seen) < 2:  # a fold left with one type (rare types only elsewhere) predicts that type
                proba[rows, np.searchsorted(classes, seen[0])] = 1.0
                single[str(i)] = str(seen[0])
                continue
            clf = make_classifier(classifier, seed).fit(Xtr[fit_rows], y[fit_rows])
            proba[np.ix_(rows, np.searchsorted(classes, clf.classes_))] = clf.predict_proba(X[rows])
            if folder:
                save_sklearn(clf, folder / f"fold_{i}.skops")
        if folder:
            write_manifest(folder, {"classes": classes.tolist(), "k": k, "seed": seed,
                                    "features": list(features.columns), "single": single})
    predicted = classes[proba.argmax(axis=1)]
    observed = meta["cell_type"].to_numpy().astype(str)
    out = pd.DataFrame({"cell_type": np.where(train, observed, predicted), "annotated": train,
                        "predicted": predicted}, index=features.index)
    for j, c in enumerate(classes):
        out[f"p_{c}"] = proba[:, j].astype(np.float32)
    accuracy = float((predicted[train] == y).mean())
    metrics = {
        "classifier": classifier,
        "oof_accuracy": accuracy,
        "n_folds": k,
        "classes": classes.tolist(),
        "oof_accuracy_by_type": {c: float((predicted[train][y == c] == c).mean()) for c in classes},
        "predicted_test_counts": {str(c): int(v) for c, v in
                                  pd.Series(predicted[~train]).value_counts().sort_index().items()},
    }
    log.info("cell-type OOF accuracy %.3f over %d types", accuracy, len(classes))
    return out, metrics


class CellTypeModels:
    """A run's fitted cell-type fold models, typing new cells as the run typed its test cells."""

    def __init__(self, folder: str) -> None:
        self.manifest = read_manifest(folder)
        self.classes = np.asarray(self.manifest["classes"])
        self.models = {i: load_sklearn(Path(folder) / f"fold_{i}.skops") for i in range(self.manifest["k"])
                       if str(i) not in self.manifest["single"]}

    def predict_proba(self, X: np.ndarray, cell_ids: np.ndarray) -> np.ndarray:
        """Class probabilities (columns: ``classes``) of each cell from the fold model its id hashes to."""
        proba = np.zeros((len(X), len(self.classes)))
        if self.manifest["k"] == 0:
            proba[:, 0] = 1.0
            return proba
        model_of = fold_of(cell_ids, self.manifest["k"], self.manifest["seed"])
        for i in np.unique(model_of):
            rows = np.flatnonzero(model_of == i)
            if str(i) in self.manifest["single"]:
                proba[rows, np.searchsorted(self.classes, self.manifest["single"][str(i)])] = 1.0
                continue
            clf = self.models[int(i)]
            proba[np.ix_(rows, np.searchsorted(self.classes, clf.classes_))] = clf.predict_proba(X[rows])
        return proba
