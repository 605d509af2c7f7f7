# Blend of the modality's models: per-cell standardisation, Optuna weights on good-validation cells.


rule ensemble:
    input:
        oof=lambda wc: expand(rules.train_model.output.oof, modality=wc.modality, model=ensemble_members(wc.modality)),
        test=lambda wc: expand(rules.train_model.output.test, modality=wc.modality, model=ensemble_members(wc.modality)),
        day_out=lambda wc: expand(
            rules.train_model.output.day_out, modality=wc.modality, model=ensemble_members(wc.modality)
        ),
        codes=rules.encode_targets.output.codes,
        codec=rules.encode_targets.output.codec,
        split_codes=rules.encode_targets.output.split_codes,
        split_codecs=rules.encode_targets.output.split_codecs,
        cells=rules.ingest.output.cells,
        folds=rules.folds.output.folds,
    output:
        oof="results/{modality}/ensemble/oof.h5ad",
        test="results/{modality}/ensemble/test.h5ad",
        weights="results/{modality}/ensemble/weights.json",
        metrics="results/{modality}/ensemble/metrics.json",
    log:
        "logs/ensemble/{modality}.log",
    benchmark:
        "benchmarks/ensemble/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 16000 * attempt,
        runtime=120,
    params:
        models=lambda wc: ensemble_members(wc.modality),
        ensemble=lambda wc: ensemble_settings(wc.modality),
        seed=config["seed"],
        code=code_hash("ensemble.py"),
    script:
        "../scripts/ensemble.py"
