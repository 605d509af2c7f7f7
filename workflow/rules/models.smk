# One rule trains every configured model: its config entry reaches the rule as params, so
# editing one model reruns that model (and the blend and submission), nothing else.


rule train_model:
    input:
        features=lambda wc: expand(
            "results/{modality}/features/{name}.parquet",
            modality=wc.modality,
            name=model_config(wc.model)["features"],
        ),
        targets="results/{modality}/ingest/targets.h5ad",
        cells="results/{modality}/ingest/cells.parquet",
        folds="results/{modality}/folds.parquet",
    output:
        oof="results/{modality}/models/{model}/oof.h5ad",
        test="results/{modality}/models/{model}/test.h5ad",
        metrics="results/{modality}/models/{model}/metrics.json",
    params:
        type=lambda wc: model_config(wc.model)["type"],
        hyper=lambda wc: sorted_dict(model_config(wc.model)["params"]),
        seed=config["seed"],
        code=code_hash("models", "cv.py", "training.py", "features/table.py"),
    threads: 2
    resources:
        gpu=lambda wc: int(model_config(wc.model)["type"] in GPU_TYPES),
        mem_mb=8000,
    log:
        "logs/train_model/{modality}/{model}.log",
    benchmark:
        "benchmarks/train_model/{modality}/{model}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/train_model.py"
