"""Rule score_predictions: own data's test predictions (the blend and each model) scored against the
test cells' own targets, beside the training mean-profile baseline."""

from msci.logs import logged
from msci.predictions import score_predictions

sm = snakemake  # noqa: F821
mods = sm.params.modalities
tests = iter(sm.input.models)
with logged(sm.log[0]):
    score_predictions(
        dict(zip(mods, sm.input.predictions, strict=True)),
        dict(zip(mods, sm.input.truths, strict=True)),
        models={m: {n: next(tests) for n in sm.params.models[m]} for m in mods},
        codecs=dict(zip(mods, sm.input.codecs, strict=True)),
        train_targets=dict(zip(mods, sm.input.train_targets, strict=True)),
        out_path=sm.output.score,
    )
