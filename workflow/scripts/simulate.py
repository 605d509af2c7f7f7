"""Rule simulate: write demo data in the competition format."""

import os

from msci.logs import logged
from msci.simulate import SimulationConfig, simulate_competition

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    simulate_competition(
        os.path.dirname(sm.output.data[0]),
        os.path.dirname(sm.output.hidden[0]),
        SimulationConfig.from_dict(sm.params.demo),
    )
