"""Rule features_svd_chrom: truncated SVD per chromosome of the Multiome peaks."""

from msci.features.svd_chrom import svd_chrom_features
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    svd_chrom_features(sm.input.inputs, sm.output.table, seed=sm.params.seed, **sm.params.svd_chrom)
