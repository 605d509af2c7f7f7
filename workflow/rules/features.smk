# Feature families: one table per family, index cell_id, train + test rows.


rule features_svd:
    input:
        inputs=rules.ingest.output.inputs,
        cells=rules.ingest.output.cells,
    output:
        table="results/{modality}/features/svd.parquet",
        fitted="results/{modality}/features/svd.fitted.skops",
    log:
        "logs/features_svd/{modality}.log",
    benchmark:
        "benchmarks/features_svd/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=240,
    params:
        svd=sorted_dict(config["features"]["svd"]),
        fit_on=config["features"]["fit_on"],
        seed=config["seed"],
        code=code_hash("features_svd.py"),
    script:
        "../scripts/features_svd.py"


rule features_lsi:
    input:
        inputs=rules.ingest.output.inputs,
        cells=rules.ingest.output.cells,
    output:
        table="results/{modality}/features/lsi.parquet",
        fitted="results/{modality}/features/lsi.fitted.skops",
        metrics="results/{modality}/features/lsi.metrics.json",
    log:
        "logs/features_lsi/{modality}.log",
    benchmark:
        "benchmarks/features_lsi/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=240,
    params:
        lsi=sorted_dict(config["features"]["lsi"]),
        fit_on=config["features"]["fit_on"],
        seed=config["seed"],
        code=code_hash("features_lsi.py"),
    script:
        "../scripts/features_lsi.py"


rule features_bm25:
    input:
        inputs=rules.ingest.output.inputs,
        cells=rules.ingest.output.cells,
    output:
        table="results/{modality}/features/bm25.parquet",
        fitted="results/{modality}/features/bm25.fitted.skops",
        metrics="results/{modality}/features/bm25.metrics.json",
    log:
        "logs/features_bm25/{modality}.log",
    benchmark:
        "benchmarks/features_bm25/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=240,
    params:
        bm25=sorted_dict(config["features"]["bm25"]),
        fit_on=config["features"]["fit_on"],
        seed=config["seed"],
        code=code_hash("features_bm25.py"),
    script:
        "../scripts/features_bm25.py"


rule features_cell_type:
    input:
        cell_type=rules.cell_type.output.table,
    output:
        table="results/{modality}/features/cell_type.parquet",
    log:
        "logs/features_cell_type/{modality}.log",
    benchmark:
        "benchmarks/features_cell_type/{modality}.tsv"
    group:
        "cell_type"
    conda:
        "../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=10,
    params:
        cell_type=sorted_dict(config["features"]["cell_type"]),
        code=code_hash("features_cell_type.py"),
    script:
        "../scripts/features_cell_type.py"


rule features_centred:
    input:
        source=lambda wc: feature_tables(wc, [config["features"]["centred"]["source"]])[0],
        cells=rules.ingest.output.cells,
    output:
        table="results/{modality}/features/centred.parquet",
    log:
        "logs/features_centred/{modality}.log",
    benchmark:
        "benchmarks/features_centred/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=30,
    params:
        centred=sorted_dict(config["features"]["centred"]),
        code=code_hash("features_centred.py"),
    script:
        "../scripts/features_centred.py"


rule features_metadata:
    input:
        cells=rules.ingest.output.cells,
    output:
        table="results/{modality}/features/metadata.parquet",
    log:
        "logs/features_metadata/{modality}.log",
    benchmark:
        "benchmarks/features_metadata/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 2000 * attempt,
        runtime=10,
    params:
        metadata=sorted_dict(config["features"]["metadata"]),
        code=code_hash("features_metadata.py"),
    script:
        "../scripts/features_metadata.py"


rule features_svd_chrom:
    input:
        inputs=rules.ingest.output.inputs,
        cells=rules.ingest.output.cells,
    output:
        table="results/{modality}/features/svd_chrom.parquet",
        fitted="results/{modality}/features/svd_chrom.fitted.skops",
    log:
        "logs/features_svd_chrom/{modality}.log",
    benchmark:
        "benchmarks/features_svd_chrom/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=240,
    params:
        svd_chrom=sorted_dict(config["features"]["svd_chrom"]),
        fit_on=config["features"]["fit_on"],
        seed=config["seed"],
        code=code_hash("features_svd_chrom.py"),
    script:
        "../scripts/features_svd_chrom.py"


rule features_genes:
    input:
        inputs=rules.ingest.output.inputs,
        targets=rules.ingest.output.targets,
    output:
        table="results/{modality}/features/genes.parquet",
        report="results/{modality}/features/genes.matches.json",
    log:
        "logs/features_genes/{modality}.log",
    benchmark:
        "benchmarks/features_genes/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=60,
    params:
        extra=config["features"]["genes"]["extra"],
        code=code_hash("features_genes.py"),
    script:
        "../scripts/features_genes.py"


rule features_qc:
    input:
        inputs=rules.ingest.output.inputs,
    output:
        table="results/{modality}/features/qc.parquet",
    log:
        "logs/features_qc/{modality}.log",
    benchmark:
        "benchmarks/features_qc/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=60,
    params:
        code=code_hash("features_qc.py"),
    script:
        "../scripts/features_qc.py"


rule features_ivis:
    input:
        source=ivis_source,
        cells=rules.ingest.output.cells,
    output:
        table="results/{modality}/features/ivis.parquet",
        fitted=directory("results/{modality}/features/ivis.fitted"),
    log:
        "logs/features_ivis/{modality}.log",
    benchmark:
        "benchmarks/features_ivis/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=lambda wc, attempt: 16000 * attempt,
    params:
        ivis=sorted_dict({k: v for k, v in config["features"]["ivis"].items() if k != "input"}),
        fit_on=config["features"]["fit_on"],
        seed=config["seed"],
        code=code_hash("features_ivis.py"),
    script:
        "../scripts/features_ivis.py"
