"""Cell-type feature family: one-hot of each cell's type (annotated for train, predicted for test).

Test cells' types are hidden in the competition; they come from the cell-type classifier of
``validation/celltype.py`` (never a silent zero), so the same columns mean the same for all cells.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def cell_type_features(cell_types: pd.DataFrame) -> pd.DataFrame:
    """One float32 column ``cell_type_<T>`` per type, from the ``cell_type`` column of the classifier's table."""
    types = sorted(cell_types["cell_type"].astype(str).unique())
    onehot = (cell_types["cell_type"].astype(str).to_numpy()[:, None] == np.array(types)[None, :])
    return pd.DataFrame(onehot.astype(np.float32), index=cell_types.index.rename("cell_id"),
                        columns=[f"cell_type_{t}" for t in types])
