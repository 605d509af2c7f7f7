"""Rule test_targets: own data's test cells' targets, kept apart for scoring (never trained on)."""

from msci.ingest_anndata import write_test_targets
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    write_test_targets(sm.wildcards.modality, sm.params.own, sm.output.targets, chunk_rows=sm.params.chunk_rows)
