"""Rule ensemble: blend the modality's models (per-cell standardisation, Optuna weights)."""

from msci.ensemble import BlendFiles, BlendOutputs, BlendSettings, ensemble_models
from msci.logs import logged
from msci.split_codecs import TargetFiles

sm = snakemake  # noqa: F821
models = sm.params.models
with logged(sm.log[0]):
    ensemble_models(
        BlendFiles(
            oof=dict(zip(models, sm.input.oof, strict=True)),
            test=dict(zip(models, sm.input.test, strict=True)),
            day_out=dict(zip(models, sm.input.day_out, strict=True)),
            targets=TargetFiles(sm.input.codes, sm.input.codec, sm.input.split_codes, sm.input.split_codecs),
            cells=sm.input.cells,
            folds=sm.input.folds,
        ),
        BlendOutputs(oof=sm.output.oof, test=sm.output.test, weights=sm.output.weights, metrics=sm.output.metrics),
        BlendSettings(**sm.params.ensemble, seed=sm.params.seed),
    )
