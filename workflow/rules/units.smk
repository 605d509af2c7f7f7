# Each cell's level and scale (its targets' mean and sd), so that predictions.h5ad is in the targets' units.


rule units:
    input:
        features=lambda wc: feature_tables(wc, config["units"]["features"]),
        targets=rules.ingest.output.targets,
        cells=rules.ingest.output.cells,
        folds=rules.folds.output.folds,
        blend_oof=rules.ensemble.output.oof,
        codes=rules.encode_targets.output.codes,
        codec=rules.encode_targets.output.codec,
        split_codes=rules.encode_targets.output.split_codes,
        split_codecs=rules.encode_targets.output.split_codecs,
    output:
        levels="results/{modality}/units/levels.parquet",
        model="results/{modality}/units/level_model.npz",
        metrics="results/{modality}/units/metrics.json",
    log:
        "logs/units/{modality}.log",
    benchmark:
        "benchmarks/units/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=60,
    params:
        alpha=config["units"]["alpha"],
        chunk_rows=config["ingest"]["chunk_rows"],
        code=code_hash("units.py"),
    script:
        "../scripts/units.py"
