"""Rule adversarial: out-of-fold p_test of every cell and the good-validation training cells."""

import pandas as pd

from msci.features.table import load_features
from msci.io.artifacts import write_json, write_parquet
from msci.logs import logged
from msci.validation.adversarial import adversarial_validation

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    cells = pd.read_parquet(sm.input.cells)
    features = load_features(sm.input.features, cells.index.to_numpy())
    table, metrics = adversarial_validation(features, cells, seed=sm.params.seed, **sm.params.adversarial)
    write_parquet(table, sm.output.table)
    write_json(metrics, sm.output.metrics)
