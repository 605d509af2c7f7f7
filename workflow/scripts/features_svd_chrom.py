"""Rule features_svd_chrom: truncated SVD per chromosome of the Multiome peaks."""

from msci.features.svd_chrom import svd_chrom_features
from msci.features.table import fit_mask
from msci.io.matrix import MatrixFile
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    mask = fit_mask(sm.input.cells, MatrixFile(sm.input.inputs).obs_names, sm.params.fit_on)
    svd_chrom_features(sm.input.inputs, sm.output.table, seed=sm.params.seed, fit_mask=mask,
        out_fitted=sm.output.fitted, **sm.params.svd_chrom)
