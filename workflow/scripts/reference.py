"""Rule reference: reference.json, naming a modality's fitted objects for queries (msci.reference)."""

from msci.io.artifacts import write_json
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    write_json(sm.params.spec, sm.output.manifest)
