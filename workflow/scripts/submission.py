"""Rule submission: map the blends' test predictions onto evaluation_ids."""

from msci.logs import logged
from msci.submission import build_submission

sm = snakemake  # noqa: F821
with logged(sm.log[0]) as log:
    n = build_submission(
        sm.input.evaluation_ids,
        dict(zip(sm.params.modalities, sm.input.predictions, strict=True)),
        sm.output.submission,
        chunk_rows=sm.params.chunk_rows,
        external=sm.params.external,
        codecs=dict(zip(sm.params.modalities, sm.input.codecs, strict=True)),
        require_all=set(sm.params.modalities) == {"cite", "multi"},
    )
    log.info("wrote %d rows", n)
