"""Rule tune_worker: one worker adding trials to a model's study until it has tune.n_trials (msci.tune)."""

from msci.logs import logged
from msci.split_codecs import TargetFiles
from msci.tune import tune_worker

sm = snakemake  # noqa: F821
spec = sm.params.spec
with logged(sm.log[0]):
    tune_worker(
        sm.input.study,
        spec["type"],
        spec["params"],
        spec["space"],
        sm.input.features,
        TargetFiles(sm.input.codes, sm.input.codec, sm.input.split_codes, sm.input.split_codecs),
        sm.input.cells,
        sm.input.folds,
        setting=sm.params.storage,
        n_trials=sm.params.n_trials,
        worker=int(sm.wildcards.worker),
        n_workers=sm.params.n_workers,
        seed=sm.params.seed,
        stop_fraction=sm.params.stop_fraction,
        threads=sm.threads,
        out_path=sm.output.done,
        pretrainer=sm.input.get("pretrainer"),
    )
