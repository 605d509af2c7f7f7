# Cross-validation design: fold assignment of the training cells.


rule folds:
    input:
        cells="results/{modality}/ingest/cells.parquet",
    output:
        folds="results/{modality}/folds.parquet",
    params:
        folds=sorted_dict(config["folds"]),
        seed=config["seed"],
        code=code_hash("validation/folds.py"),
    log:
        "logs/folds/{modality}.log",
    benchmark:
        "benchmarks/folds/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/folds.py"
