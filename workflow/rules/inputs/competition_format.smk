# Files in the competition's format under DATA (set by the including mode file): every file checked
# together, each modality ingested from its three files and the metadata; the run delivers
# results/submission.csv in evaluation_ids order.

COMPETITION_FILES = [
    f"{split}_{m}_{kind}.h5"
    for m in ("cite", "multi")
    for split, kind in (("train", "inputs"), ("train", "targets"), ("test", "inputs"))
] + ["metadata.csv", "evaluation_ids.csv", "sample_submission.csv"]
METADATA = os.path.join(DATA, "metadata.csv")
EVALUATION_IDS = os.path.join(DATA, "evaluation_ids.csv")
# What ingest reads per modality; the keys are ingest's script arguments.
INGEST_FILES = {
    m: {
        **{
            key: os.path.join(DATA, f"{split}_{m}_{kind}.h5")
            for key, split, kind in (
                ("train_inputs", "train", "inputs"),
                ("train_targets", "train", "targets"),
                ("test_inputs", "test", "inputs"),
            )
        },
        "metadata": METADATA,
    }
    for m in MODALITIES
}
# One check of every file (the evaluation ids need all test cells), recorded per modality.
_CHECKED = {f"{m}_{k}": v for m in MODALITIES for k, v in INGEST_FILES[m].items() if k != "metadata"}
_CHECKED.update(metadata=METADATA, evaluation_ids=EVALUATION_IDS)
if SAMPLE_SUBMISSION:
    _CHECKED["sample_submission"] = os.path.join(DATA, "sample_submission.csv")
FILES_TO_CHECK = {m: _CHECKED for m in MODALITIES}
OWN_SPEC = {m: None for m in MODALITIES}


rule submission:
    input:
        evaluation_ids=EVALUATION_IDS,
        predictions=expand(rules.ensemble.output.test, modality=MODALITIES),
        codecs=expand(rules.encode_targets.output.codec, modality=MODALITIES),
        external=[e["path"] for e in config["ensemble"]["external"]],
    output:
        submission="results/submission.csv",
    log:
        "logs/submission/submission.log",
    benchmark:
        "benchmarks/submission/submission.tsv"
    conda:
        "../../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 16000 * attempt,
        runtime=120,
    params:
        modalities=MODALITIES,
        external=config["ensemble"]["external"],
        chunk_rows=config["submission"]["chunk_rows"],
        code=code_hash("submission.py"),
    script:
        "../../scripts/submission.py"


DELIVERABLES = [rules.submission.output.submission]
