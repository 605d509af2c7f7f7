"""Rule ingest: check one modality's competition files (or own AnnData/MuData) and copy them into
artifacts by row chunks."""

from msci.ingest import ingest_modality
from msci.ingest_anndata import ingest_own_data
from msci.logs import logged

sm = snakemake  # noqa: F821
outputs = {"out_cells": sm.output.cells, "out_inputs": sm.output.inputs, "out_targets": sm.output.targets,
           "chunk_rows": sm.params.chunk_rows, "sparse_inputs": sm.params.sparse_inputs}
with logged(sm.log[0]):
    if sm.params.own:
        ingest_own_data(sm.wildcards.modality, sm.params.own, fit_on=sm.params.fit_on, **outputs)
    else:
        ingest_modality(
            sm.wildcards.modality,
            sm.input.train_inputs,
            sm.input.test_inputs,
            sm.input.train_targets,
            sm.input.metadata,
            **outputs,
        )
