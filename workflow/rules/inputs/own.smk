# Input mode `own`: the user's AnnData/MuData under `input:`, one entry per modality. Delivers
# results/<modality>/predictions.h5ad; modalities whose test cells are named by an obs column (`test:`)
# are scored against those cells' own targets.

_missing = [m for m in MODALITIES if m not in config["input"]]
if _missing:
    raise ValueError(
        f"config: input has no entry for modality {', '.join(_missing)}; add one, or set "
        f"modalities: [{', '.join(m for m in MODALITIES if m in config['input'])}]"
    )
if config["ensemble"]["external"]:
    raise ValueError("config: ensemble.external blends other submissions; an own-data run (input:) has none")
for _m, _spec in config["input"].items():
    if _spec["format"] == "anndata" and "path" in _spec:
        raise ValueError(
            f"config: input.{_m}.path is for format mudata; format anndata names files in inputs and targets"
        )

# Each modality's entry (schema defaults filled in) and its files: a MuData file, or inputs + targets.
OWN_SPEC = {m: sorted_dict(config["input"][m]) for m in MODALITIES}
INGEST_FILES = {
    m: {"data": s["path"]} if s["format"] == "mudata" else {"inputs": s["inputs"], "targets": s["targets"]}
    for m, s in OWN_SPEC.items()
}
FILES_TO_CHECK = INGEST_FILES
SCORED = [m for m in MODALITIES if OWN_SPEC[m].get("test")]


rule test_targets:
    input:
        unpack(lambda wc: INGEST_FILES[wc.modality]),
        checked=rules.check_inputs.output.summary,
    output:
        targets="results/{modality}/ingest/test_targets.h5ad",
    log:
        "logs/test_targets/{modality}.log",
    benchmark:
        "benchmarks/test_targets/{modality}.tsv"
    conda:
        "../../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=60,
    params:
        own=lambda wc: OWN_SPEC[wc.modality],
        chunk_rows=config["ingest"]["chunk_rows"],
        code=code_hash("test_targets.py"),
    script:
        "../../scripts/test_targets.py"


rule predictions:
    input:
        test=rules.ensemble.output.test,
        weights=rules.ensemble.output.weights,
        codec=rules.encode_targets.output.codec,
        levels=rules.units.output.levels,
        units=rules.units.output.metrics,
    output:
        predictions="results/{modality}/predictions.h5ad",
    log:
        "logs/predictions/{modality}.log",
    benchmark:
        "benchmarks/predictions/{modality}.tsv"
    conda:
        "../../../envs/msci.yaml"
    resources:
        mem_mb=lambda wc, attempt: 4000 * attempt,
        runtime=30,
    params:
        config=lambda wc: {
            "input": OWN_SPEC[wc.modality],
            "models": ensemble_members(wc.modality),
            "ensemble": ensemble_settings(wc.modality),
            "seed": config["seed"],
        },
        code=code_hash("predictions.py"),
    script:
        "../../scripts/predictions.py"


DELIVERABLES = expand(rules.predictions.output.predictions, modality=MODALITIES)
# Per scored modality: the blend, each model's test predictions and metrics, the held-apart test targets, the
# codec, the training targets (the mean-profile baseline) and each cell's level and scale (units).
SCORE_INPUTS = {
    f"{m}_{key}": expand(path, modality=m)[0]
    for m in SCORED
    for key, path in (
        ("predictions", rules.predictions.output.predictions),
        ("truth", rules.test_targets.output.targets),
        ("codec", rules.encode_targets.output.codec),
        ("level_model", rules.units.output.model),
        ("levels", rules.units.output.levels),
        ("units", rules.units.output.metrics),
    )
}
SCORE_INPUTS.update(
    {
        f"{m}_model_{n}_{kind}": expand(getattr(rules.train_model.output, kind), modality=m, model=n)[0]
        for m in SCORED
        for n in models_for(m)
        for kind in ("test", "metrics")
    }
)
SCORE_PARAMS = {"kind": "predictions", "modalities": SCORED, "models": {m: models_for(m) for m in SCORED}}
