"""Rule reference: reference.json, naming a modality's fitted objects for queries (msci.reference), and the run's
input space (feature names and normalisation, no cells), so that a query never reads the run's inputs."""

from msci.input_space import write_input_space
from msci.io.artifacts import write_json
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    write_input_space(sm.input.inputs, sm.output.input_space)
    write_json(sm.params.spec, sm.output.manifest)
