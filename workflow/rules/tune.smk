# Hyperparameter studies (config `tune:`; docs/tuning.md): per model and modality one Optuna study in persistent
# storage, `tune.n_workers` worker jobs adding trials to it, then the best params, every trial and the params'
# importances. A model with `params_from: tune` trains with the best params (rule train_model).


rule tune_study:
    input:
        unpack(pretrainer_input),
        features=model_features,
        codes=rules.encode_targets.output.codes,
        codec=rules.encode_targets.output.codec,
        split_codes=rules.encode_targets.output.split_codes,
        split_codecs=rules.encode_targets.output.split_codecs,
        cells=rules.ingest.output.cells,
        folds=rules.folds.output.folds,
    output:
        study="results/{modality}/tune/{model}/study.json",
    log:
        "logs/tune_study/{modality}/{model}.log",
    benchmark:
        "benchmarks/tune_study/{modality}/{model}.tsv"
    conda:
        "../../envs/msci.yaml"
    resources:
        runtime=5,
    params:
        storage=config["tune"]["storage"],
        journal=lambda wc: f"results/{wc.modality}/tune/{wc.model}/journal.log",
        spec=lambda wc: study_spec(wc.modality, wc.model),
        code=code_hash("tune_study.py", "tune_worker.py"),
    script:
        "../scripts/tune_study.py"


rule tune_worker:
    input:
        unpack(pretrainer_input),
        study=rules.tune_study.output.study,
        features=model_features,
        codes=rules.encode_targets.output.codes,
        codec=rules.encode_targets.output.codec,
        split_codes=rules.encode_targets.output.split_codes,
        split_codecs=rules.encode_targets.output.split_codecs,
        cells=rules.ingest.output.cells,
        folds=rules.folds.output.folds,
    output:
        done="results/{modality}/tune/{model}/worker_{worker}.json",
    log:
        "logs/tune_worker/{modality}/{model}/{worker}.log",
    benchmark:
        "benchmarks/tune_worker/{modality}/{model}/{worker}.tsv"
    conda:
        "../../envs/msci.yaml"
    threads: 2
    resources:
        gpu=lambda wc: int(model_config(wc.model)["type"] in GPU_TYPES),
        mem_mb=lambda wc, attempt: 16000 * attempt,
    params:
        spec=lambda wc: study_spec(wc.modality, wc.model),
        storage=config["tune"]["storage"],
        n_trials=config["tune"]["n_trials"],
        n_workers=config["tune"]["n_workers"],
        stop_fraction=config["folds"]["stop_fraction"],
        seed=config["seed"],
        code=code_hash("tune_worker.py"),
    script:
        "../scripts/tune_worker.py"


checkpoint tune_results:
    input:
        study=rules.tune_study.output.study,
        workers=lambda wc: expand(
            rules.tune_worker.output.done,
            worker=range(config["tune"]["n_workers"]),
            allow_missing=True,
        ),
    output:
        best="results/{modality}/tune/{model}/best.yaml",
        trials="results/{modality}/tune/{model}/trials.csv",
        importances="results/{modality}/tune/{model}/importances.json",
    log:
        "logs/tune_results/{modality}/{model}.log",
    benchmark:
        "benchmarks/tune_results/{modality}/{model}.tsv"
    conda:
        "../../envs/msci.yaml"
    resources:
        runtime=10,
    params:
        space=lambda wc: config["tune"]["models"][wc.model],
        storage=config["tune"]["storage"],
        code=code_hash("tune_results.py"),
    script:
        "../scripts/tune_results.py"


rule tune:
    input:
        tune_targets(),
