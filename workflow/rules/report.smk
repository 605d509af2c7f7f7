# One HTML page with the plots users look at: adversarial p_test, CV per model, weights, per-target.


rule report:
    input:
        unpack(report_inputs),
    output:
        html="results/report/index.html",
    log:
        "logs/report/report.log",
    benchmark:
        "benchmarks/report/report.tsv"
    conda:
        "../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=30,
    params:
        modalities=MODALITIES,
        models={m: models_for(m) for m in MODALITIES},
        members={m: ensemble_members(m) for m in MODALITIES},
        own_data=INPUT_MODE == "own",
        studies={m: [n for n in config["tune"]["models"] if m in model_config(n)["modalities"]] for m in MODALITIES},
        code=code_hash("report.py"),
    script:
        "../scripts/report.py"
