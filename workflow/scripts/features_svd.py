"""Rule features_svd: truncated SVD of all inputs (train + test), in row chunks."""

from msci.features.svd import svd_features
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    svd_features(sm.input.inputs, sm.output.table, seed=sm.params.seed, **sm.params.svd)
