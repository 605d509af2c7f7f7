"""Rule predictions: the blend's test predictions of own data as results/<modality>/predictions.h5ad."""

from msci.logs import logged
from msci.predictions import write_predictions

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    write_predictions(sm.input.test, sm.input.codec, sm.input.weights, sm.input.levels, sm.input.units,
                      sm.output.predictions, config=sm.params.config)
