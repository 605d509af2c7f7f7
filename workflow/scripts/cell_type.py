"""Rule cell_type: predict the hidden cell types of test cells (fold models vote)."""

import pandas as pd

from msci.features.table import load_features
from msci.io.artifacts import write_json, write_parquet
from msci.logs import logged
from msci.validation.celltype import predict_cell_types

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    cells = pd.read_parquet(sm.input.cells)
    features = load_features(sm.input.features, cells.index.to_numpy())
    table, metrics = predict_cell_types(features, cells, seed=sm.params.seed,
                                         out_fitted=sm.output.fitted, **sm.params.cell_type)
    write_parquet(table, sm.output.table)
    write_json(metrics, sm.output.metrics)
