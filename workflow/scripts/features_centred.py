"""Rule features_centred: another family's table less each batch's median (per-day batch correction)."""

from msci.features.batch import centred_features
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    settings = dict(sm.params.centred)
    centred_features(sm.input.source, sm.input.cells, sm.output.table, by=settings["by"],
                     statistic=settings["statistic"])
