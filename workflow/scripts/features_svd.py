"""Rule features_svd: truncated SVD of all inputs (fit on train + test cells, or train only), in row chunks."""

from msci.features.svd import svd_features
from msci.features.table import fit_mask
from msci.io.matrix import MatrixFile
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    mask = fit_mask(sm.input.cells, MatrixFile(sm.input.inputs).obs_names, sm.params.fit_on)
    svd_features(sm.input.inputs, sm.output.table, seed=sm.params.seed, fit_mask=mask,
        out_fitted=sm.output.fitted, **sm.params.svd)
