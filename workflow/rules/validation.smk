# Cross-validation design: adversarial labels, folds stratified on them, predicted cell types.


rule folds:
    input:
        cells="results/{modality}/ingest/cells.parquet",
        adversarial="results/{modality}/adversarial.parquet",
    output:
        folds="results/{modality}/folds.parquet",
    params:
        folds=sorted_dict({k: config["folds"][k] for k in ("strategy", "n_splits", "day_out")}),
        seed=config["seed"],
        code=code_hash("folds.py"),
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=10,
    group:
        "validation"
    log:
        "logs/folds/{modality}.log",
    benchmark:
        "benchmarks/folds/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/folds.py"


rule adversarial:
    input:
        features=expand(
            "results/{{modality}}/features/{name}.parquet",
            name=config["validation"]["features"],
        ),
        cells="results/{modality}/ingest/cells.parquet",
    output:
        table="results/{modality}/adversarial.parquet",
        metrics="results/{modality}/adversarial.metrics.json",
    params:
        adversarial=sorted_dict(config["validation"]["adversarial"]),
        seed=config["seed"],
        code=code_hash("adversarial.py"),
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=120,
    group:
        "validation"
    log:
        "logs/adversarial/{modality}.log",
    benchmark:
        "benchmarks/adversarial/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/adversarial.py"


rule cell_type:
    input:
        features=expand(
            "results/{{modality}}/features/{name}.parquet",
            name=config["validation"]["features"],
        ),
        cells="results/{modality}/ingest/cells.parquet",
    output:
        table="results/{modality}/cell_type.parquet",
        metrics="results/{modality}/cell_type.metrics.json",
    params:
        cell_type=sorted_dict(config["validation"]["cell_type"]),
        seed=config["seed"],
        code=code_hash("cell_type.py"),
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=120,
    group:
        "cell_type"
    log:
        "logs/cell_type/{modality}.log",
    benchmark:
        "benchmarks/cell_type/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/cell_type.py"
