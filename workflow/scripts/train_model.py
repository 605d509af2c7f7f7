"""Rule train_model: cross-validate one configured model on one modality."""

from msci.logs import logged
from msci.split_codecs import TargetFiles
from msci.training import train_model

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    train_model(
        sm.params.type,
        sm.params.hyper,
        sm.input.features,
        TargetFiles(sm.input.codes, sm.input.codec, sm.input.split_codes, sm.input.split_codecs),
        sm.input.cells,
        sm.input.folds,
        out_oof=sm.output.oof,
        out_test=sm.output.test,
        out_day_out=sm.output.day_out,
        out_metrics=sm.output.metrics,
        out_fitted=sm.output.fitted,
        seed=sm.params.seed,
        stop_fraction=sm.params.stop_fraction,
        threads=sm.threads,
        pretrainer=sm.input.get("pretrainer"),
    )
