"""Rule ensemble: blend the modality's models after per-cell standardisation."""

from msci.ensemble import ensemble_models
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    ensemble_models(
        dict(zip(sm.params.models, sm.input.oof, strict=True)),
        dict(zip(sm.params.models, sm.input.test, strict=True)),
        sm.input.targets,
        sm.input.cells,
        out_oof=sm.output.oof,
        out_test=sm.output.test,
        out_weights=sm.output.weights,
        out_metrics=sm.output.metrics,
    )
