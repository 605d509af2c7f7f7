# Shared helpers: config validation, input locations, model lookups, code hashes for reruns.
import importlib.util
import json
import os
from pathlib import Path

import yaml

from snakemake.utils import validate

SCHEMAS = Path(workflow.basedir) / "workflow" / "schemas"


def check_feature_names():
    """Models' feature families must exist; said with the valid names (the schema's own message is vaguer)."""
    schema = yaml.safe_load((SCHEMAS / "config.schema.yaml").read_text())
    valid = schema["$defs"]["feature_list"]["items"]["enum"]
    for name, entry in (config.get("models") or {}).items():
        feats = (entry or {}).get("features") or []
        lists = feats.values() if isinstance(feats, dict) else [feats]
        unknown = sorted({f for fl in lists if isinstance(fl, list) for f in fl if f not in valid})
        if unknown:
            raise ValueError(
                f"config: models.{name}.features: unknown feature family {', '.join(map(str, unknown))}; "
                f"valid: {', '.join(valid)}"
            )


check_feature_names()
validate(config, "../schemas/config.schema.yaml")

LIB = Path(workflow.basedir) / "workflow" / "scripts" / "msci"
MODALITIES = list(config["modalities"])


def input_mode():
    """demo (nothing given: simulated data), competition (`data_dir`) or own (`input:` AnnData/MuData)."""
    if config["data_dir"] and config["input"]:
        raise ValueError("config: give either data_dir (competition files) or input (your own data), not both")
    if config["input"]:
        return "own"
    return "competition" if config["data_dir"] else "demo"


# The Snakefile includes workflow/rules/inputs/<INPUT_MODE>.smk: the mode's raw files, what it checks and
# ingests, what the run delivers and what it can score are chosen there, once.
INPUT_MODE = input_mode()
# Each model type's parameters and GPU flag, generated from the registry (msci.models, `make schemas`).
MODEL_TYPES = yaml.safe_load((SCHEMAS / "model_params.yaml").read_text())
# Model types whose training benefits from a GPU: their rule asks for resources gpu=1.
GPU_TYPES = {t for t, spec in MODEL_TYPES.items() if spec["gpu"]}


wildcard_constraints:
    modality="cite|multi",
    model="[A-Za-z0-9_-]+",
    worker="[0-9]+",


def check_config():
    """What the schema cannot say: model types and their parameters against the registry's estimators (read from
    ``schemas/model_params.yaml``, generated from the code), and names that refer to models."""
    accepted = MODEL_TYPES
    for name, entry in config["models"].items():
        if entry["type"] not in accepted:
            raise ValueError(
                f"config: models.{name}.type: unknown model type {entry['type']!r}; known: {', '.join(sorted(accepted))}"
            )
        keys = accepted[entry["type"]]
        sections = [("params", entry.get("params") or {})]
        sections += [(f"modality_params.{m}", p or {}) for m, p in (entry.get("modality_params") or {}).items()]
        for section, values in sections:
            unknown = sorted(set(values) - set(keys["params"]))
            if unknown:
                raise ValueError(
                    f"config: models.{name}.{section}: unknown parameter(s) {', '.join(unknown)} "
                    f"for type {entry['type']}; valid: {', '.join(keys['params'])}"
                )
        if entry.get("pretrain"):
            if "pretrain" not in keys:
                raise ValueError(f"config: models.{name}.pretrain: only tabnet models pre-train")
            unknown = sorted(set(entry["pretrain"]) - set(keys["pretrain"]))
            if unknown:
                raise ValueError(
                    f"config: models.{name}.pretrain: unknown parameter(s) {', '.join(unknown)}; "
                    f"valid: {', '.join(keys['pretrain'])}"
                )
    for name in config["models"]:
        for m in sorted(set(model_config(name)["modalities"]) & set(MODALITIES)):
            model_config(name, m)  # a {modality: features} map must name every modality the model runs on
    for m in MODALITIES:
        per_modality(config["features"]["ivis"]["input"], "features.ivis.input", m)
    check_tune(accepted)
    if config["ensemble"]["fit_on"] == "day_out" and not config["folds"]["day_out"]:
        raise ValueError(
            "config: ensemble.fit_on is day_out, but folds.day_out is false: no model predicts a held-out day"
        )
    for key in ("models", "weights"):
        unknown = sorted(set(config["ensemble"][key]) - set(config["models"]))
        if unknown:
            raise ValueError(
                f"config: ensemble.{key} names unknown model(s) {', '.join(unknown)}; "
                f"configured: {', '.join(sorted(config['models']))}"
            )
    if config["ensemble"]["method"] == "fixed":
        for m in MODALITIES:
            members = ensemble_members(m)
            if not any(config["ensemble"]["weights"].get(n, 0) > 0 for n in members):
                raise ValueError(
                    f"config: ensemble.method fixed needs a positive weight in ensemble.weights for "
                    f"a {m} model (blended: {', '.join(members)})"
                )


def check_tune(accepted):
    """`tune.models` names configured models and their own parameters, with ranges that make sense; a model
    with `params_from: tune` has a study."""
    tune = config["tune"]
    for name, space in tune["models"].items():
        if name not in config["models"]:
            raise ValueError(
                f"config: tune.models.{name}: no such model; configured: {', '.join(sorted(config['models']))}"
            )
        kind = config["models"][name]["type"]
        unknown = sorted(set(space) - set(accepted[kind]["params"]))
        if unknown:
            raise ValueError(
                f"config: tune.models.{name}: unknown parameter(s) {', '.join(unknown)} for type {kind}; "
                f"valid: {', '.join(accepted[kind]['params'])}"
            )
        for param, spec in space.items():
            if "low" in spec and not spec["low"] < spec["high"]:
                raise ValueError(f"config: tune.models.{name}.{param}: low must be below high")
            if spec.get("log") and "low" in spec and spec["low"] <= 0:
                raise ValueError(f"config: tune.models.{name}.{param}: a log range needs low > 0")
            if spec.get("log") and "step" in spec:
                raise ValueError(f"config: tune.models.{name}.{param}: give step or log, not both")
        shape = sorted(set(space) & {"n_d", "n_a", "n_steps", "gamma"})
        if kind == "tabnet" and config["models"][name].get("pretrain") and shape:
            raise ValueError(
                f"config: tune.models.{name}: {', '.join(shape)} shape the pre-trained TabNet encoder, which "
                "every trial fine-tunes; tune them without pretrain"
            )
        if not set(model_config(name)["modalities"]) & set(MODALITIES):
            raise ValueError(f"config: tune.models.{name}: the model runs on none of {', '.join(MODALITIES)}")
    for name, entry in config["models"].items():
        if entry["params_from"] == "tune" and name not in tune["models"]:
            raise ValueError(f"config: models.{name}.params_from is tune, but tune.models has no {name} entry")


def study_spec(modality, model):
    """What defines a model's study: its type, its params for the modality (the base of every trial), its
    pre-training, the search space, its features, the early-stopping share and the seed; a change makes a new
    study."""
    cfg = model_config(model, modality)
    return sorted_dict(
        {
            "type": cfg["type"],
            "params": cfg["params"],
            "pretrain": cfg.get("pretrain") or {},
            "space": config["tune"]["models"][model],
            "features": cfg["features"],
            "stop_fraction": config["folds"]["stop_fraction"],
            "seed": config["seed"],
        }
    )


def tune_targets():
    """Every configured study's results (target `tune`)."""
    out = []
    for name in config["tune"]["models"]:
        for m in sorted(set(model_config(name)["modalities"]) & set(MODALITIES)):
            out += expand(
                [rules.tune_results.output.best, rules.tune_results.output.trials],
                modality=m,
                model=name,
            )
    return out


def tuned_input(wc):
    """A `params_from: tune` model's best params file (ancient: only the params it holds decide a rerun)."""
    if model_config(wc.model)["params_from"] != "tune":
        return {}
    return {"tuned": ancient(checkpoints.tune_results.get(modality=wc.modality, model=wc.model).output.best)}


def model_params(wc):
    """The params a model trains with: its config entry's, with a study's best over them (`params_from: tune`;
    before the study has finished, the config's: the job waits for the study and is planned again)."""
    params = model_config(wc.model, wc.modality)["params"]
    if model_config(wc.model)["params_from"] == "tune":
        best = Path(expand(rules.tune_results.output.best, modality=wc.modality, model=wc.model)[0])
        if best.exists():
            params = {**params, **yaml.safe_load(best.read_text())["params"]}
    return sorted_dict(params)


def _load_provenance():
    """msci.provenance, loaded from its file (the workflow's own process does not import the library)."""
    spec = importlib.util.spec_from_file_location("msci_provenance", LIB / "provenance.py")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


_PROVENANCE = _load_provenance()


def code_hash(*scripts):
    """Content hash of the wrappers ``workflow/scripts/<script>`` and the library modules they import, transitively.

    Passed as a rule param, so editing a wrapper or the library reruns exactly the rules whose code
    changed, and a fresh clone (new modification times) reruns nothing; the module set is read from the
    imports, never listed by hand.
    """
    return "".join(_PROVENANCE.code_hash(LIB.parent / script, LIB) for script in scripts)


def sorted_dict(d):
    """A dict with keys sorted at every level: stable params, reruns only on real changes."""
    return json.loads(json.dumps(d, sort_keys=True))


def per_modality(value, key, modality):
    """A setting given as one value or as a {modality: value} map, for one modality; a map without it is a
    config error (no hidden fallback)."""
    if not isinstance(value, dict):
        return value
    if modality not in value:
        raise ValueError(f"config: {key} has no entry for modality {modality}; give one, or one value for all")
    return value[modality]


def model_config(name, modality=None):
    """A model's config entry; for a modality, ``features`` and ``params`` resolved for it.

    ``features`` is a list or a {modality: list} map; ``modality_params`` overrides ``params``
    per modality (e.g. the 1D-CNN's wider Multiome layers).
    """
    cfg = dict(config["models"][name])  # the schema filled in the defaults
    if modality is not None:
        cfg["features"] = per_modality(cfg["features"], f"models.{name}.features", modality)
        cfg["params"] = {**cfg["params"], **cfg["modality_params"].get(modality, {})}
    return cfg


def models_for(modality):
    """The modality's model names, sorted: reordering the config changes nothing downstream."""
    return sorted(n for n in config["models"] if modality in model_config(n)["modalities"])


def ensemble_members(modality):
    chosen = config["ensemble"]["models"] or models_for(modality)
    members = sorted(m for m in chosen if m in models_for(modality))
    if not members:
        raise ValueError(f"no model configured for modality {modality}")
    return members


def ensemble_settings(modality):
    """The blend's settings for a modality; fixed weights reduced to the modality's own models."""
    cfg = {k: v for k, v in config["ensemble"].items() if k not in ("models", "external")}
    members = ensemble_members(modality)
    cfg["weights"] = {m: w for m, w in cfg["weights"].items() if m in members}
    return sorted_dict(cfg)


check_config()


def final_targets():
    """The default target's files: the mode's deliverables and score, the report, every model's and blend's
    metrics."""
    targets = [rules.report.output.html, *DELIVERABLES] + ([rules.score.output.score] if SCORED else [])
    targets += tune_targets()
    for m in MODALITIES:
        targets += expand(rules.train_model.output.metrics, modality=m, model=models_for(m))
        targets += expand(
            [
                rules.ensemble.output.metrics,
                rules.adversarial.output.metrics,
                rules.cell_type.output.metrics,
                rules.reference.output.manifest,
                rules.model_card.output.markdown,
            ],
            modality=m,
        )
    return targets


def target_codec(modality):
    """The target codec's settings for a modality; exact targets depend on none of the SVD's settings."""
    cfg = config["targets"]
    method = cfg["compress"][modality]
    if method == "none":
        return {"method": "none", "chunk_rows": cfg["chunk_rows"], "n_components": None, "n_iter": None, "seed": None}
    keys = ("n_components", "n_iter", "chunk_rows")
    return {"method": method, **{k: cfg[k] for k in keys}, "seed": config["seed"]}


def feature_tables(wc, names):
    """The feature families' tables for the job's modality, as their rules name them."""
    return [expand(getattr(rules, f"features_{n}").output.table, modality=wc.modality)[0] for n in names]


def model_features(wc):
    return feature_tables(wc, model_config(wc.model, wc.modality)["features"])


def validation_features(wc):
    return feature_tables(wc, config["validation"]["features"])


def pretrainer_input(wc):
    """TabNet models with a `pretrain` entry fine-tune from the cached unsupervised pre-training."""
    cfg = model_config(wc.model, wc.modality)
    if cfg["type"] == "tabnet" and cfg.get("pretrain"):
        return {"pretrainer": expand(rules.tabnet_pretrain.output.pretrainer, **wc)[0]}
    return {}


def report_inputs(wildcards):
    """Per modality: cells, targets, codes and codecs (global and per CV split), validation labels and metrics,
    each model's metrics and OOF."""
    files = {}
    for m in MODALITIES:
        named = {
            "cells": rules.ingest.output.cells,
            "targets": rules.ingest.output.targets,
            "codes": rules.encode_targets.output.codes,
            "codec": rules.encode_targets.output.codec,
            "split_codes": rules.encode_targets.output.split_codes,
            "split_codecs": rules.encode_targets.output.split_codecs,
            "adversarial": rules.adversarial.output.table,
            "adversarial_metrics": rules.adversarial.output.metrics,
            "cell_type_metrics": rules.cell_type.output.metrics,
            "ensemble_metrics": rules.ensemble.output.metrics,
            "model_card": rules.model_card.output.markdown,
        }
        files.update({f"{m}_{k}": expand(v, modality=m)[0] for k, v in named.items()})
        for model in ensemble_members(m):
            files[f"{m}_oof_{model}"] = expand(rules.train_model.output.oof, modality=m, model=model)[0]
        for model in models_for(m):
            files[f"{m}_model_{model}"] = expand(rules.train_model.output.metrics, modality=m, model=model)[0]
        for model in config["tune"]["models"]:
            if m in model_config(model)["modalities"]:
                for kind in ("trials", "importances", "best"):
                    path = getattr(rules.tune_results.output, kind)
                    files[f"{m}_tune_{model}_{kind}"] = expand(path, modality=m, model=model)[0]
    if SCORED:
        files["score"] = rules.score.output.score
    return files


def ivis_source(wc):
    """What ivis embeds for a modality: a feature table (e.g. svd, svd_chrom) or the ingested inputs."""
    source = per_modality(config["features"]["ivis"]["input"], "features.ivis.input", wc.modality)
    if source == "inputs":
        return expand(rules.ingest.output.inputs, modality=wc.modality)[0]
    return feature_tables(wc, [source])[0]


# Fitted objects of the feature families a query recomputes: what each family's rule keeps (paths under
# results/<modality>/), read back by msci.reference.
FITTED_FAMILIES = {
    "svd": "features/svd.fitted.skops",
    "lsi": "features/lsi.fitted.skops",
    "bm25": "features/bm25.fitted.skops",
    "svd_chrom": "features/svd_chrom.fitted.skops",
    "genes": "features/genes.matches.json",
    "qc": None,
    "ivis": "features/ivis.fitted",
    "cell_type": "cell_type.fitted",
}
# Families built from each cell's batch (day, donor), which a query's cells do not carry: a reference whose
# blend uses one says so, and its queries are refused (msci.reference).
BATCH_FAMILIES = ("centred", "metadata")


def batch_family_users(modality):
    """The blended models (and ``units``) of ``modality`` that use a batch family → those families."""
    users = {n: model_config(n, modality)["features"] for n in ensemble_members(modality)}
    users["units"] = config["units"]["features"]
    return {n: sorted(set(fs) & set(BATCH_FAMILIES)) for n, fs in users.items() if set(fs) & set(BATCH_FAMILIES)}


def reference_families(modality):
    """The families a query of ``modality`` computes, each after those it reads (ivis' source, the cell-type
    classifier's features), with what each needs."""
    wanted = {f for n in ensemble_members(modality) for f in model_config(n, modality)["features"]}
    wanted |= set(config["units"]["features"])
    wanted -= set(BATCH_FAMILIES)
    ivis_from = per_modality(config["features"]["ivis"]["input"], "features.ivis.input", modality)
    if "ivis" in wanted and ivis_from != "inputs":
        wanted.add(ivis_from)
    if "cell_type" in wanted:
        wanted |= set(config["validation"]["features"])
    order = sorted(wanted - {"ivis", "cell_type"}) + [f for f in ("ivis", "cell_type") if f in wanted]
    specs = {}
    for f in order:
        spec = {"fitted": FITTED_FAMILIES[f]}
        if f == "ivis":
            spec["source"] = ivis_from
        if f == "cell_type":
            spec.update(
                sources=list(config["validation"]["features"]), encoding=config["features"]["cell_type"]["encoding"]
            )
        specs[f] = spec
    return specs


def reference_spec(modality):
    """reference.json's content: the fitted objects of a modality (paths relative to results/<modality>) and the
    settings that join them."""
    return sorted_dict(
        {
            "modality": modality,
            "not_queryable": batch_family_users(modality),
            "inputs": "reference/input_space.h5ad",
            "families": reference_families(modality),
            "family_order": list(reference_families(modality)),
            "members": {
                n: {
                    "fitted": f"models/{n}/fitted",
                    "metrics": f"models/{n}/metrics.json",
                    "features": model_config(n, modality)["features"],
                }
                for n in ensemble_members(modality)
            },
            "ensemble": {"weights": "ensemble/weights.json", "standardize": config["ensemble"]["standardize"]},
            "codec": "targets/codec.npz",
            "split_codecs": "targets/split_codecs.npz",
            "units": {
                "model": "units/level_model.npz",
                "metrics": "units/metrics.json",
                "features": list(config["units"]["features"]),
            },
        }
    )


def reference_inputs(wc):
    """Every file reference.json names, as the rules that write them name them."""
    m = wc.modality
    files = {
        "inputs": expand(rules.ingest.output.inputs, modality=m)[0],
        "weights": expand(rules.ensemble.output.weights, modality=m)[0],
        "codec": expand(rules.encode_targets.output.codec, modality=m)[0],
        "split_codecs": expand(rules.encode_targets.output.split_codecs, modality=m)[0],
        "level_model": expand(rules.units.output.model, modality=m)[0],
        "units": expand(rules.units.output.metrics, modality=m)[0],
    }
    for f in reference_families(m):
        if f == "cell_type":
            files[f] = expand(rules.cell_type.output.fitted, modality=m)[0]
        elif f == "genes":
            files[f] = expand(rules.features_genes.output.report, modality=m)[0]
        elif f != "qc":
            files[f] = expand(getattr(rules, f"features_{f}").output.fitted, modality=m)[0]
    for n in ensemble_members(m):
        files[f"model_{n}"] = expand(rules.train_model.output.fitted, modality=m, model=n)[0]
        files[f"model_{n}_metrics"] = expand(rules.train_model.output.metrics, modality=m, model=n)[0]
    return files


def card_inputs(wc):
    """What the model card reads: the fitted files (for their checksums), the training cells, the input space,
    the blend's metrics and, where the run scores its test cells, the score."""
    files = reference_inputs(wc)
    files.update(
        manifest=expand(rules.reference.output.manifest, modality=wc.modality)[0],
        input_space=expand(rules.reference.output.input_space, modality=wc.modality)[0],
        cells=expand(rules.ingest.output.cells, modality=wc.modality)[0],
        ensemble_metrics=expand(rules.ensemble.output.metrics, modality=wc.modality)[0],
    )
    if wc.modality in SCORED:
        files["score"] = rules.score.output.score
    return files


def card_config():
    """The config the card states: the run's, without the query entries (which do not change the model)."""
    return sorted_dict({k: v for k, v in config.items() if k != "query"})


def query_entry(name, modality):
    """A `query:` entry (schema defaults filled in), for the modality it names."""
    entry = config["query"].get(name)
    if entry is None or entry["modality"] != modality:
        raise ValueError(f"config: query has no {modality} entry named {name!r}")
    return sorted_dict(entry)
