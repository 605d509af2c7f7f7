"""Rule encode_targets: training targets → codes the models predict (exact, or SVD-compressed)."""

from msci.logs import logged
from msci.target_codes import encode_targets

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    encode_targets(
        sm.input.targets,
        sm.output.codes,
        sm.output.codec,
        **sm.params.codec,
    )
