"""Rule features_qc: per-cell mitochondrial sums, total signal and detected features."""

from msci.features.qc import qc_features
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    qc_features(sm.input.inputs, sm.output.table)
