# Competition data: the submission (row_id,target in evaluation_ids order) and, on demo data, its
# score. Own data: each modality's test predictions as AnnData and, where test cells have targets,
# their score.


if not OWN:

    rule submission:
        input:
            evaluation_ids=data_file("evaluation_ids.csv"),
            predictions=expand("results/{modality}/ensemble/test.h5ad", modality=MODALITIES),
            codecs=expand("results/{modality}/targets/codec.npz", modality=MODALITIES),
            external=[e["path"] for e in config["ensemble"]["external"]],
        output:
            submission="results/submission.csv",
        params:
            modalities=MODALITIES,
            external=config["ensemble"]["external"],
            chunk_rows=config["submission"]["chunk_rows"],
            code=code_hash("submission.py"),
        resources:
            mem_mb=lambda wc, attempt: 16000 * attempt,
            runtime=120,
        log:
            "logs/submission/submission.log",
        benchmark:
            "benchmarks/submission/submission.tsv"
        conda:
            "../../envs/msci.yaml"
        script:
            "../scripts/submission.py"

    rule score:
        input:
            submission=rules.submission.output.submission,
            evaluation_ids=data_file("evaluation_ids.csv"),
            metadata=data_file("metadata.csv"),
            solutions=expand("{hidden}/test_{modality}_targets.h5", hidden=HIDDEN, modality=MODALITIES),
        output:
            score="results/score.json",
        params:
            modalities=MODALITIES,
            code=code_hash("score.py"),
        resources:
            mem_mb=lambda wc, attempt: 16000 * attempt,
            runtime=60,
        log:
            "logs/score/score.log",
        benchmark:
            "benchmarks/score/score.tsv"
        conda:
            "../../envs/msci.yaml"
        script:
            "../scripts/score.py"


if OWN:

    rule predictions:
        input:
            test=rules.ensemble.output.test,
            weights=rules.ensemble.output.weights,
            codec=rules.encode_targets.output.codec,
        output:
            predictions="results/{modality}/predictions.h5ad",
        params:
            config=lambda wc: {"input": own_spec(wc.modality), "models": ensemble_members(wc.modality),
                               "ensemble": ensemble_settings(wc.modality), "seed": config["seed"]},
            code=code_hash("predictions.py"),
        resources:
            mem_mb=lambda wc, attempt: 4000 * attempt,
            runtime=30,
        log:
            "logs/predictions/{modality}.log",
        benchmark:
            "benchmarks/predictions/{modality}.tsv"
        conda:
            "../../envs/msci.yaml"
        script:
            "../scripts/predictions.py"


if SCORED:

    rule score_predictions:
        input:
            predictions=expand("results/{modality}/predictions.h5ad", modality=SCORED),
            truths=expand("results/{modality}/ingest/test_targets.h5ad", modality=SCORED),
            models=[f"results/{m}/models/{n}/test.h5ad" for m in SCORED for n in models_for(m)],
            codecs=expand("results/{modality}/targets/codec.npz", modality=SCORED),
            train_targets=expand("results/{modality}/ingest/targets.h5ad", modality=SCORED),
        output:
            score="results/score.json",
        params:
            modalities=SCORED,
            models={m: models_for(m) for m in SCORED},
            code=code_hash("score_predictions.py"),
        resources:
            mem_mb=lambda wc, attempt: 4000 * attempt,
            runtime=30,
        log:
            "logs/score_predictions/score_predictions.log",
        benchmark:
            "benchmarks/score_predictions/score_predictions.tsv"
        conda:
            "../../envs/msci.yaml"
        script:
            "../scripts/score_predictions.py"
