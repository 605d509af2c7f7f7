# Feature families: one table per family, index cell_id, train + test rows.


rule features_svd:
    input:
        inputs="results/{modality}/ingest/inputs.h5ad",
        cells="results/{modality}/ingest/cells.parquet",
    output:
        table="results/{modality}/features/svd.parquet",
    params:
        svd=sorted_dict(config["features"]["svd"]),
        fit_on=config["features"]["fit_on"],
        seed=config["seed"],
        code=code_hash("features_svd.py"),
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=240,
    log:
        "logs/features_svd/{modality}.log",
    benchmark:
        "benchmarks/features_svd/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/features_svd.py"


rule features_lsi:
    input:
        inputs="results/{modality}/ingest/inputs.h5ad",
        cells="results/{modality}/ingest/cells.parquet",
    output:
        table="results/{modality}/features/lsi.parquet",
        metrics="results/{modality}/features/lsi.metrics.json",
    params:
        lsi=sorted_dict(config["features"]["lsi"]),
        fit_on=config["features"]["fit_on"],
        seed=config["seed"],
        code=code_hash("features_lsi.py"),
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=240,
    log:
        "logs/features_lsi/{modality}.log",
    benchmark:
        "benchmarks/features_lsi/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/features_lsi.py"


rule features_cell_type:
    input:
        cell_type="results/{modality}/cell_type.parquet",
    output:
        table="results/{modality}/features/cell_type.parquet",
    params:
        cell_type=sorted_dict(config["features"]["cell_type"]),
        code=code_hash("features_cell_type.py"),
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=10,
    group:
        "cell_type"
    log:
        "logs/features_cell_type/{modality}.log",
    benchmark:
        "benchmarks/features_cell_type/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/features_cell_type.py"


rule features_svd_chrom:
    input:
        inputs="results/{modality}/ingest/inputs.h5ad",
        cells="results/{modality}/ingest/cells.parquet",
    output:
        table="results/{modality}/features/svd_chrom.parquet",
    params:
        svd_chrom=sorted_dict(config["features"]["svd_chrom"]),
        fit_on=config["features"]["fit_on"],
        seed=config["seed"],
        code=code_hash("features_svd_chrom.py"),
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=240,
    log:
        "logs/features_svd_chrom/{modality}.log",
    benchmark:
        "benchmarks/features_svd_chrom/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/features_svd_chrom.py"


rule features_genes:
    input:
        inputs="results/{modality}/ingest/inputs.h5ad",
        targets="results/{modality}/ingest/targets.h5ad",
    output:
        table="results/{modality}/features/genes.parquet",
        report="results/{modality}/features/genes.matches.json",
    params:
        extra=config["features"]["genes"]["extra"],
        code=code_hash("features_genes.py"),
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=60,
    log:
        "logs/features_genes/{modality}.log",
    benchmark:
        "benchmarks/features_genes/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/features_genes.py"


rule features_qc:
    input:
        inputs="results/{modality}/ingest/inputs.h5ad",
    output:
        table="results/{modality}/features/qc.parquet",
    params:
        code=code_hash("features_qc.py"),
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=60,
    log:
        "logs/features_qc/{modality}.log",
    benchmark:
        "benchmarks/features_qc/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/features_qc.py"


rule features_ivis:
    input:
        source=ivis_source,
        cells="results/{modality}/ingest/cells.parquet",
    output:
        table="results/{modality}/features/ivis.parquet",
    params:
        ivis=sorted_dict({k: v for k, v in config["features"]["ivis"].items() if k != "input"}),
        fit_on=config["features"]["fit_on"],
        seed=config["seed"],
        code=code_hash("features_ivis.py"),
    threads: 2
    resources:
        gpu=1,
        mem_mb=lambda wc, attempt: 16000 * attempt,
    log:
        "logs/features_ivis/{modality}.log",
    benchmark:
        "benchmarks/features_ivis/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/features_ivis.py"
