# Demo data (when neither data_dir nor input is configured) and chunked ingest of the competition
# files or of the user's own AnnData/MuData.


if DEMO:

    rule simulate:
        output:
            data=expand("{data}/{name}", data=DATA, name=COMPETITION_FILES),
            hidden=expand(
                "{hidden}/{name}",
                hidden=HIDDEN,
                name=["test_cite_targets.h5", "test_multi_targets.h5", "test_metadata.csv"],
            ),
        params:
            demo=sorted_dict(config["demo"]),
            code=code_hash("simulate.py"),
        resources:
            mem_mb=lambda wc, attempt: 4000 * attempt,
            runtime=30,
        log:
            "logs/simulate/simulate.log",
        benchmark:
            "benchmarks/simulate/simulate.tsv"
        conda:
            "../../envs/msci.yaml"
        script:
            "../scripts/simulate.py"


rule check_inputs:
    input:
        unpack(input_files_to_check),
    output:
        summary="results/{modality}/ingest/checked.json",
    params:
        modalities=MODALITIES,
        own=lambda wc: own_spec(wc.modality),
        code=code_hash("check_inputs.py"),
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=60,
    log:
        "logs/check_inputs/{modality}.log",
    benchmark:
        "benchmarks/check_inputs/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/check_inputs.py"


rule ingest:
    input:
        unpack(ingest_files),
        # Each modality's check covers every input file (the evaluation ids need all test cells) but
        # records only its own modality, so a rerun check for another reason changes nothing here.
        checked=rules.check_inputs.output.summary,
    output:
        cells="results/{modality}/ingest/cells.parquet",
        inputs="results/{modality}/ingest/inputs.h5ad",
        targets="results/{modality}/ingest/targets.h5ad",
    params:
        chunk_rows=config["ingest"]["chunk_rows"],
        sparse_inputs=config["ingest"]["sparse_inputs"],
        own=lambda wc: own_spec(wc.modality),
        fit_on=config["features"]["fit_on"],
        code=code_hash("ingest.py"),
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=240,
    log:
        "logs/ingest/{modality}.log",
    benchmark:
        "benchmarks/ingest/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    script:
        "../scripts/ingest.py"


if SCORED:

    rule test_targets:
        input:
            unpack(ingest_files),
            checked=rules.check_inputs.output.summary,
        output:
            targets="results/{modality}/ingest/test_targets.h5ad",
        params:
            own=lambda wc: own_spec(wc.modality),
            chunk_rows=config["ingest"]["chunk_rows"],
            code=code_hash("test_targets.py"),
        resources:
            mem_mb=lambda wc, attempt: 4000 * attempt,
            runtime=60,
        log:
            "logs/test_targets/{modality}.log",
        benchmark:
            "benchmarks/test_targets/{modality}.tsv"
        conda:
            "../../envs/msci.yaml"
        script:
            "../scripts/test_targets.py"
