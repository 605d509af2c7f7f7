"""Rule features_genes: raw values of the genes encoding the target proteins (+ an extra list)."""

from msci.features.genes import genes_features
from msci.io.artifacts import write_json
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    report = genes_features(sm.input.inputs, sm.input.targets, sm.output.table, extra_genes=sm.params.extra)
    write_json(report, sm.output.report)
