# Cross-validation design: adversarial labels, folds stratified on them, predicted cell types.


rule adversarial:
    input:
        features=validation_features,
        cells=rules.ingest.output.cells,
    output:
        table="results/{modality}/adversarial.parquet",
        metrics="results/{modality}/adversarial.metrics.json",
    log:
        "logs/adversarial/{modality}.log",
    benchmark:
        "benchmarks/adversarial/{modality}.tsv"
    group:
        "validation"
    conda:
        "../../envs/msci.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=120,
    params:
        adversarial=sorted_dict(config["validation"]["adversarial"]),
        seed=config["seed"],
        code=code_hash("adversarial.py"),
    script:
        "../scripts/adversarial.py"


rule folds:
    input:
        cells=rules.ingest.output.cells,
        adversarial=rules.adversarial.output.table,
    output:
        folds="results/{modality}/folds.parquet",
    log:
        "logs/folds/{modality}.log",
    benchmark:
        "benchmarks/folds/{modality}.tsv"
    group:
        "validation"
    conda:
        "../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=10,
    params:
        folds=sorted_dict({k: config["folds"][k] for k in ("strategy", "n_splits", "day_out")}),
        seed=config["seed"],
        code=code_hash("folds.py"),
    script:
        "../scripts/folds.py"


rule cell_type:
    input:
        features=validation_features,
        cells=rules.ingest.output.cells,
    output:
        table="results/{modality}/cell_type.parquet",
        metrics="results/{modality}/cell_type.metrics.json",
        fitted=directory("results/{modality}/cell_type.fitted"),
    log:
        "logs/cell_type/{modality}.log",
    benchmark:
        "benchmarks/cell_type/{modality}.tsv"
    group:
        "cell_type"
    conda:
        "../../envs/msci.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=120,
    params:
        cell_type=sorted_dict(config["validation"]["cell_type"]),
        seed=config["seed"],
        code=code_hash("cell_type.py"),
    script:
        "../scripts/cell_type.py"
