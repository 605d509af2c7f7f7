# The one scoring rule: where test cells have targets (demo data's hidden ones, own data's `test:` cells),
# results/score.json scores what the run delivered. Its inputs are the input mode's (SCORE_INPUTS);
# competition files score nothing.


if SCORED:

    rule score:
        input:
            **SCORE_INPUTS,
        output:
            score="results/score.json",
        log:
            "logs/score/score.log",
        benchmark:
            "benchmarks/score/score.tsv"
        conda:
            "../../envs/msci.yaml"
        resources:
            mem_mb=lambda wc, attempt: 16000 * attempt,
            runtime=60,
        params:
            scoring=SCORE_PARAMS,
            code=code_hash("score.py"),
        script:
            "../scripts/score.py"
