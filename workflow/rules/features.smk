# Feature families: one table per family, index cell_id, train + test rows.


rule features_svd:
    input:
        inputs="results/{modality}/ingest/inputs.h5ad",
    output:
        table="results/{modality}/features/svd.parquet",
    params:
        svd=sorted_dict(config["features"]["svd"]),
        seed=config["seed"],
        code=code_hash("features/svd.py"),
    threads: 2
    resources:
        mem_mb=4000,
    log:
        "logs/features_svd/{modality}.log",
    benchmark:
        "benchmarks/features_svd/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/features_svd.py"
