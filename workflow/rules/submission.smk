# The submission (row_id,target in evaluation_ids order) and, on demo data, its score.


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
