"""Rule ensemble: blend the modality's models (per-cell standardisation, Optuna weights)."""

from msci.ensemble import ensemble_models
from msci.logs import logged

sm = snakemake  # noqa: F821
cfg = dict(sm.params.ensemble)
with logged(sm.log[0]):
    ensemble_models(
        dict(zip(sm.params.models, sm.input.oof, strict=True)),
        dict(zip(sm.params.models, sm.input.test, strict=True)),
        sm.input.codes,
        sm.input.codec,
        sm.input.cells,
        sm.input.folds,
        out_oof=sm.output.oof,
        out_test=sm.output.test,
        out_weights=sm.output.weights,
        out_metrics=sm.output.metrics,
        method=cfg["method"],
        weights=cfg["weights"],
        standardize_how=cfg["standardize"],
        fit_on=cfg["fit_on"],
        n_trials=cfg["n_trials"],
        n_seeds=cfg["n_seeds"],
        day_out_paths=dict(zip(sm.params.models, sm.input.day_out, strict=True)),
        seed=sm.params.seed,
    )
