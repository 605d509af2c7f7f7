"""Rule ingest: check one modality's competition files and copy them into artifacts by row chunks."""

from msci.ingest import ingest_modality
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    ingest_modality(
        sm.wildcards.modality,
        sm.input.train_inputs,
        sm.input.test_inputs,
        sm.input.train_targets,
        sm.input.metadata,
        out_cells=sm.output.cells,
        out_inputs=sm.output.inputs,
        out_targets=sm.output.targets,
        chunk_rows=sm.params.chunk_rows,
        sparse_inputs=sm.params.sparse_inputs,
    )
