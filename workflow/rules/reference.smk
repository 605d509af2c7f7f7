# A finished run as a reusable model: reference.json names every fitted object of a modality; `query` predicts
# new cells (config `query:`) with them, fitting nothing (docs/query.md).


rule reference:
    input:
        unpack(reference_inputs),
    output:
        manifest="results/{modality}/reference.json",
        input_space="results/{modality}/reference/input_space.h5ad",
    log:
        "logs/reference/{modality}.log",
    benchmark:
        "benchmarks/reference/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=5,
    params:
        spec=lambda wc: reference_spec(wc.modality),
        code=code_hash("reference.py"),
    script:
        "../scripts/reference.py"


rule query_predictions:
    input:
        manifest=rules.reference.output.manifest,
    output:
        predictions="results/{modality}/query/{name}/predictions.h5ad",
        score="results/{modality}/query/{name}/score.json",
    log:
        "logs/query/{modality}/{name}.log",
    benchmark:
        "benchmarks/query/{modality}/{name}.tsv"
    conda:
        "../../envs/msci.yaml"
    threads: 2
    resources:
        mem_mb=lambda wc, attempt: 8000 * attempt,
        runtime=240,
    params:
        query=lambda wc: query_entry(wc.name, wc.modality),
        chunk_rows=config["ingest"]["chunk_rows"],
        code=code_hash("query.py"),
    script:
        "../scripts/query.py"


rule query:
    input:
        [
            expand(rules.query_predictions.output.predictions, modality=entry["modality"], name=name)
            for name, entry in config["query"].items()
        ],


rule model_card:
    input:
        unpack(card_inputs),
    output:
        card="results/{modality}/model_card.json",
        markdown="results/{modality}/model_card.md",
    log:
        "logs/model_card/{modality}.log",
    benchmark:
        "benchmarks/model_card/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=5,
    params:
        modality=lambda wc: wc.modality,
        target_normalize=lambda wc: (
            config["input"][wc.modality].get("target_normalize", "none") if INPUT_MODE == "own" else "given"
        ),
        config=card_config(),
        model_libraries={t: spec["libraries"] for t, spec in MODEL_TYPES.items()},
        code=code_hash("model_card.py"),
    script:
        "../scripts/model_card.py"


rule export_archive:
    input:
        card=rules.model_card.output.card,
        markdown=rules.model_card.output.markdown,
    output:
        archive="results/{modality}/{modality}.msci",
    log:
        "logs/export/{modality}.log",
    benchmark:
        "benchmarks/export/{modality}.tsv"
    conda:
        "../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 1000 * attempt,
        runtime=15,
    params:
        code=code_hash("export.py"),
    script:
        "../scripts/export.py"


rule export:
    input:
        expand(rules.export_archive.output.archive, modality=MODALITIES),
