"""Rule features_cell_type: cell-type columns (probabilities or one-hot; out-of-fold predicted for training cells)."""

import pandas as pd

from msci.features.cell_type import cell_type_features
from msci.io.artifacts import write_parquet
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    write_parquet(cell_type_features(pd.read_parquet(sm.input.cell_type), **sm.params.cell_type), sm.output.table)
