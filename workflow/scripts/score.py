"""Rule score: the run's deliverable against the test cells' own targets — the submission against demo
data's hidden targets as the competition scores it, or own data's predictions (the blend, each model and the
training mean-profile baseline, per-cell Pearson and the field's metrics in the targets' units)."""

from msci.logs import logged
from msci.predictions import ScoreFiles, score_predictions
from msci.submission import score_submission

sm = snakemake  # noqa: F821
scoring = sm.params.scoring
mods = scoring["modalities"]
with logged(sm.log[0]) as log:
    if scoring["kind"] == "submission":
        score = score_submission(
            sm.input.submission,
            sm.input.evaluation_ids,
            dict(zip(mods, sm.input.solutions, strict=True)),
            sm.input.metadata,
            out_path=sm.output.score,
            chunk_rows=scoring["chunk_rows"],
        )
        log.info("score: %s", score)
    else:
        score_predictions(
            {
                m: ScoreFiles(
                    **{k: sm.input[f"{m}_{k}"] for k in ("predictions", "truth", "codec", "level_model")},
                    levels=sm.input[f"{m}_levels"],
                    units=sm.input[f"{m}_units"],
                    models={n: sm.input[f"{m}_model_{n}_test"] for n in scoring["models"][m]},
                    model_metrics={n: sm.input[f"{m}_model_{n}_metrics"] for n in scoring["models"][m]},
                )
                for m in mods
            },
            out_path=sm.output.score,
        )
