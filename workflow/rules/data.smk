# Every input file checked, then one modality's inputs copied into artifacts by row chunks. Which files
# those are is the input mode's (workflow/rules/inputs/<mode>.smk, included after the stages).


rule check_inputs:
    input:
        unpack(lambda wc: FILES_TO_CHECK[wc.modality]),
    output:
        summary="results/{modality}/ingest/checked.json",
    log:
        "logs/check_inputs/{modality}.log",
    benchmark:
        "benchmarks/check_inputs/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=60,
    params:
        modalities=MODALITIES,
        own=lambda wc: OWN_SPEC[wc.modality],
        code=code_hash("check_inputs.py"),
    script:
        "../scripts/check_inputs.py"


rule ingest:
    input:
        unpack(lambda wc: INGEST_FILES[wc.modality]),
        # Each modality's check covers every input file (the evaluation ids need all test cells) but
        # records only its own modality, so a rerun check for another reason changes nothing here.
        checked=rules.check_inputs.output.summary,
    output:
        cells="results/{modality}/ingest/cells.parquet",
        inputs="results/{modality}/ingest/inputs.h5ad",
        targets="results/{modality}/ingest/targets.h5ad",
    log:
        "logs/ingest/{modality}.log",
    benchmark:
        "benchmarks/ingest/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=240,
    params:
        chunk_rows=config["ingest"]["chunk_rows"],
        sparse_inputs=config["ingest"]["sparse_inputs"],
        own=lambda wc: OWN_SPEC[wc.modality],
        fit_on=config["features"]["fit_on"],
        code=code_hash("ingest.py"),
    script:
        "../scripts/ingest.py"
