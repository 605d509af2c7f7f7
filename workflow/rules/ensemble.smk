# Blend of the modality's models: per-cell standardisation, Optuna weights on good-validation cells.


rule ensemble:
    input:
        oof=lambda wc: expand(
            "results/{modality}/models/{model}/oof.h5ad",
            modality=wc.modality,
            model=ensemble_members(wc.modality),
        ),
        test=lambda wc: expand(
            "results/{modality}/models/{model}/test.h5ad",
            modality=wc.modality,
            model=ensemble_members(wc.modality),
        ),
        day_out=lambda wc: expand(
            "results/{modality}/models/{model}/day_out.h5ad",
            modality=wc.modality,
            model=ensemble_members(wc.modality),
        ),
        codes=rules.encode_targets.output.codes,
        codec=rules.encode_targets.output.codec,
        cells="results/{modality}/ingest/cells.parquet",
        folds="results/{modality}/folds.parquet",
    output:
        oof="results/{modality}/ensemble/oof.h5ad",
        test="results/{modality}/ensemble/test.h5ad",
        weights="results/{modality}/ensemble/weights.json",
        metrics="results/{modality}/ensemble/metrics.json",
    params:
        models=lambda wc: ensemble_members(wc.modality),
        ensemble=lambda wc: ensemble_settings(wc.modality),
        seed=config["seed"],
        code=code_hash("ensemble.py"),
    resources:
        mem_mb=lambda wc, attempt: 16000 * attempt,
        runtime=120,
    log:
        "logs/ensemble/{modality}.log",
    benchmark:
        "benchmarks/ensemble/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/ensemble.py"
