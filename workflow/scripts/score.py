"""Rule score: score the submission against the hidden demo targets, as the competition does."""

from msci.logs import logged
from msci.submission import score_submission

sm = snakemake  # noqa: F821
with logged(sm.log[0]) as log:
    score = score_submission(
        sm.input.submission,
        sm.input.evaluation_ids,
        dict(zip(sm.params.modalities, sm.input.solutions, strict=True)),
        sm.input.metadata,
        out_path=sm.output.score,
    )
    log.info("score: %s", score)
