# One rule trains every configured model: its config entry reaches the rule as params, so
# editing one model reruns that model (and the blend and submission), nothing else.


rule tabnet_pretrain:
    input:
        features=model_features,
        cells=rules.ingest.output.cells,
    output:
        pretrainer="results/{modality}/models/{model}/pretrainer.zip",
    log:
        "logs/tabnet_pretrain/{modality}/{model}.log",
    benchmark:
        "benchmarks/tabnet_pretrain/{modality}/{model}.tsv"
    conda:
        "../../envs/msci.yaml"
    threads: 2
    resources:
        gpu=1,
        mem_mb=lambda wc, attempt: 16000 * attempt,
    params:
        pretrain=lambda wc: sorted_dict(model_config(wc.model, wc.modality).get("pretrain") or {}),
        architecture=lambda wc: sorted_dict(
            {
                k: v
                for k, v in model_config(wc.model, wc.modality)["params"].items()
                if k in ("n_d", "n_a", "n_steps", "gamma", "device")
            }
        ),
        seed=config["seed"],
        code=code_hash("tabnet_pretrain.py"),
    script:
        "../scripts/tabnet_pretrain.py"


rule train_model:
    input:
        unpack(pretrainer_input),
        unpack(tuned_input),
        features=model_features,
        codes=rules.encode_targets.output.codes,
        codec=rules.encode_targets.output.codec,
        split_codes=rules.encode_targets.output.split_codes,
        split_codecs=rules.encode_targets.output.split_codecs,
        cells=rules.ingest.output.cells,
        folds=rules.folds.output.folds,
    output:
        oof="results/{modality}/models/{model}/oof.h5ad",
        test="results/{modality}/models/{model}/test.h5ad",
        day_out="results/{modality}/models/{model}/day_out.h5ad",
        metrics="results/{modality}/models/{model}/metrics.json",
        fitted=directory("results/{modality}/models/{model}/fitted"),
    log:
        "logs/train_model/{modality}/{model}.log",
    benchmark:
        "benchmarks/train_model/{modality}/{model}.tsv"
    conda:
        "../../envs/msci.yaml"
    threads: 2
    resources:
        gpu=lambda wc: int(model_config(wc.model)["type"] in GPU_TYPES),
        mem_mb=lambda wc, attempt: 16000 * attempt,
    params:
        type=lambda wc: model_config(wc.model)["type"],
        hyper=model_params,
        pretrain=lambda wc: sorted_dict(model_config(wc.model, wc.modality).get("pretrain") or {}),
        stop_fraction=config["folds"]["stop_fraction"],
        seed=config["seed"],
        code=code_hash("train_model.py"),
    script:
        "../scripts/train_model.py"
