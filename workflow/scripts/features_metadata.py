"""Rule features_metadata: the cells table's columns (day, donor) as features."""

from msci.features.batch import metadata_features
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    metadata_features(sm.input.cells, sm.output.table, **sm.params.metadata)
