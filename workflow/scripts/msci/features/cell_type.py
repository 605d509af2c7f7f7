"""Cell-type feature family, built the same way for training and test cells.

Test cells' types are hidden in the competition; they come from the cell-type classifier of
``validation/celltype.py`` (never a silent zero). By default training cells get that classifier's
out-of-fold prediction too, so models train on the feature as noisy as the one they are applied to:
an annotated type is cleaner than any prediction (the demo's out-of-fold accuracy is about 0.65), and
a model that learnt to trust it would be misled on test cells. Class probabilities (the default)
keep the classifier's uncertainty; ``onehot`` keeps only its choice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from msci.features.table import RowChunk

ENCODINGS = ("probabilities", "onehot")
TRAIN_TYPES = ("predicted", "annotated")


def encode(proba: np.ndarray, classes: list[str], encoding: str) -> np.ndarray:
    """Class probabilities as the family's columns: themselves, or one-hot of the most likely class."""
    if encoding == "probabilities":
        return np.asarray(proba, np.float32)
    return (np.arange(len(classes))[None, :] == np.asarray(proba).argmax(axis=1)[:, None]).astype(np.float32)


def cell_type_features(cell_types: pd.DataFrame, train: str = "predicted",
                       encoding: str = "probabilities") -> pd.DataFrame:
    """One float32 column ``cell_type_<T>`` per type, from the classifier's table (``predict_cell_types``).

    ``train="predicted"``: every cell's column values come from the classifier (out-of-fold for training
    cells); ``"annotated"``: training cells with an annotated type get it one-hot, test cells their
    prediction.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"cell_type encoding must be one of {', '.join(ENCODINGS)}, not {encoding!r}")
    if train not in TRAIN_TYPES:
        raise ValueError(f"cell_type train must be one of {', '.join(TRAIN_TYPES)}, not {train!r}")
    types = sorted(c.removeprefix("p_") for c in cell_types.columns if c.startswith("p_"))
    values = encode(cell_types[[f"p_{t}" for t in types]].to_numpy(np.float32), types, encoding)
    if train == "annotated":
        observed = cell_types["cell_type"].astype(str).to_numpy()
        annotated = cell_types["annotated"].to_numpy(bool)
        values[annotated] = (observed[annotated, None] == np.array(types)[None, :]).astype(np.float32)
    return pd.DataFrame(values, index=cell_types.index.rename("cell_id"), columns=[f"cell_type_{t}" for t in types])


class CellTypeFamily:
    """The ``cell_type`` family for new cells: the run's fold classifiers on its validation feature families."""

    def __init__(self, folder: str, sources: list[str], encoding: str = "probabilities") -> None:
        from msci.validation.celltype import CellTypeModels

        self.models, self.sources, self.encoding = CellTypeModels(folder), sources, encoding
        self.columns = [f"cell_type_{t}" for t in self.models.classes]

    def transform(self, chunk: RowChunk) -> np.ndarray:
        X = np.concatenate([chunk.tables[s] for s in self.sources], axis=1)
        return encode(self.models.predict_proba(X, chunk.cells), list(self.models.classes), self.encoding)
