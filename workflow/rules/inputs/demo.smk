# Input mode `demo` (neither data_dir nor input given): simulated data in the competition format, with the
# test cells' hidden targets kept apart, so the run scores its own submission as the competition would.

DATA = "resources/demo/data"
HIDDEN = "resources/demo/hidden"
SAMPLE_SUBMISSION = True
SCORED = MODALITIES


include: "competition_format.smk"


rule simulate:
    output:
        data=expand("{data}/{name}", data=DATA, name=COMPETITION_FILES),
        hidden=expand(
            "{hidden}/{name}",
            hidden=HIDDEN,
            name=["test_cite_targets.h5", "test_multi_targets.h5", "test_metadata.csv"],
        ),
    log:
        "logs/simulate/simulate.log",
    benchmark:
        "benchmarks/simulate/simulate.tsv"
    conda:
        "../../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=30,
    params:
        demo=sorted_dict(config["demo"]),
        code=code_hash("simulate.py"),
    script:
        "../../scripts/simulate.py"


# The submission against the hidden targets, by evaluation id, split public/private by the metadata.
HIDDEN_FILES = {os.path.basename(f): f for f in rules.simulate.output.hidden}
SCORE_INPUTS = {
    "submission": rules.submission.output.submission,
    "evaluation_ids": EVALUATION_IDS,
    "metadata": METADATA,
    "solutions": [HIDDEN_FILES[f"test_{m}_targets.h5"] for m in MODALITIES],
}
SCORE_PARAMS = {"kind": "submission", "modalities": MODALITIES, "chunk_rows": config["submission"]["chunk_rows"]}
