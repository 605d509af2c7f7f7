"""Rule encode_targets: training targets → codes the models predict (exact, or SVD-compressed), globally and per CV
split."""

from msci.logs import logged
from msci.split_codecs import TargetFiles, encode_split_targets

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    encode_split_targets(
        sm.input.targets,
        sm.input.folds,
        TargetFiles(sm.output.codes, sm.output.codec, sm.output.split_codes, sm.output.split_codecs),
        **sm.params.codec,
    )
