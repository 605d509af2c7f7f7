# Training targets as the models see them: exact (none) or compressed to SVD codes (svd), per modality; the
# codec fit on all training cells (test predictions) and on each CV split's training cells (every CV score).


rule encode_targets:
    input:
        targets=rules.ingest.output.targets,
        folds=rules.folds.output.folds,
    output:
        codes="results/{modality}/targets/codes.h5ad",
        codec="results/{modality}/targets/codec.npz",
        split_codes="results/{modality}/targets/split_codes.h5ad",
        split_codecs="results/{modality}/targets/split_codecs.npz",
    log:
        "logs/encode_targets/{modality}.log",
    benchmark:
        "benchmarks/encode_targets/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=120,
    params:
        codec=lambda wc: target_codec(wc.modality),
        code=code_hash("encode_targets.py"),
    script:
        "../scripts/encode_targets.py"
