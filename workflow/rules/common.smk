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
            raise ValueError(f"config: models.{name}.features: unknown feature family {', '.join(map(str, unknown))}; "
                             f"valid: {', '.join(valid)}")


check_feature_names()
validate(config, "../schemas/config.schema.yaml")

LIB = Path(workflow.basedir) / "workflow" / "scripts" / "msci"
MODALITIES = list(config["modalities"])
# Own data (`input:`): AnnData/MuData per modality, predictions.h5ad out, no evaluation ids.
OWN = bool(config["input"])
DEMO = not config["data_dir"] and not OWN
DATA = config["data_dir"] or "resources/demo/data"
HIDDEN = "resources/demo/hidden"


def check_own_input():
    """`input:` needs an entry per configured modality, and excludes `data_dir`."""
    if not OWN:
        return
    if config["data_dir"]:
        raise ValueError("config: give either data_dir (competition files) or input (your own data), not both")
    missing = [m for m in MODALITIES if m not in config["input"]]
    if missing:
        raise ValueError(f"config: input has no entry for modality {', '.join(missing)}; add one, or set "
                         f"modalities: [{', '.join(m for m in MODALITIES if m in config['input'])}]")
    if config["ensemble"]["external"]:
        raise ValueError("config: ensemble.external blends other submissions; an own-data run (input:) has none")
    for m, spec in config["input"].items():
        if spec["format"] == "anndata" and "path" in spec:
            raise ValueError(f"config: input.{m}.path is for format mudata; format anndata names files in "
                             f"inputs and targets")


check_own_input()
# Own-data modalities whose test cells are named by an obs column: their targets (if any) are scored.
SCORED = [m for m in MODALITIES if OWN and config["input"][m].get("test")]
COMPETITION_FILES = [
    f"{split}_{m}_{kind}.h5"
    for m in ("cite", "multi")
    for split, kind in (("train", "inputs"), ("train", "targets"), ("test", "inputs"))
] + ["metadata.csv", "evaluation_ids.csv", "sample_submission.csv"]
# Model types whose training benefits from a GPU: their rule asks for resources gpu=1.
GPU_TYPES = {"mlp", "resnet", "cnn1d", "tabnet", "xgboost"}


wildcard_constraints:
    modality="cite|multi",
    model="[A-Za-z0-9_-]+",


def check_config():
    """What the schema cannot say: model parameters against each model type's estimator (read from
    ``schemas/model_params.yaml``, generated from the code), and names that refer to models."""
    accepted = yaml.safe_load((SCHEMAS / "model_params.yaml").read_text())
    for name, entry in config["models"].items():
        keys = accepted[entry["type"]]
        sections = [("params", entry.get("params") or {})]
        sections += [(f"modality_params.{m}", p or {}) for m, p in (entry.get("modality_params") or {}).items()]
        for section, values in sections:
            unknown = sorted(set(values) - set(keys["params"]))
            if unknown:
                raise ValueError(f"config: models.{name}.{section}: unknown parameter(s) {', '.join(unknown)} "
                                 f"for type {entry['type']}; valid: {', '.join(keys['params'])}")
        if entry.get("pretrain"):
            if "pretrain" not in keys:
                raise ValueError(f"config: models.{name}.pretrain: only tabnet models pre-train")
            unknown = sorted(set(entry["pretrain"]) - set(keys["pretrain"]))
            if unknown:
                raise ValueError(f"config: models.{name}.pretrain: unknown parameter(s) {', '.join(unknown)}; "
                                 f"valid: {', '.join(keys['pretrain'])}")
    for key in ("models", "weights"):
        unknown = sorted(set(config["ensemble"][key]) - set(config["models"]))
        if unknown:
            raise ValueError(f"config: ensemble.{key} names unknown model(s) {', '.join(unknown)}; "
                             f"configured: {', '.join(sorted(config['models']))}")
    if config["ensemble"]["method"] == "fixed":
        for m in MODALITIES:
            members = ensemble_members(m)
            if not any(config["ensemble"]["weights"].get(n, 0) > 0 for n in members):
                raise ValueError(f"config: ensemble.method fixed needs a positive weight in ensemble.weights for "
                                 f"a {m} model (blended: {', '.join(members)})")



def _load_provenance():
    """msci.provenance, loaded from its file (the workflow's own process does not import the library)."""
    spec = importlib.util.spec_from_file_location("msci_provenance", LIB / "provenance.py")
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


_PROVENANCE = _load_provenance()


def code_hash(script):
    """Content hash of the library modules the wrapper ``workflow/scripts/<script>`` imports, transitively.

    Passed as a rule param, so editing the library reruns exactly the rules whose code changed;
    the module set is read from the imports, never listed by hand.
    """
    return _PROVENANCE.code_hash(LIB.parent / script, LIB)


def sorted_dict(d):
    """A dict with keys sorted at every level: stable params, reruns only on real changes."""
    return json.loads(json.dumps(d, sort_keys=True))


def data_file(name):
    return os.path.join(DATA, name)


def modality_files(modality):
    return {
        "train_inputs": data_file(f"train_{modality}_inputs.h5"),
        "train_targets": data_file(f"train_{modality}_targets.h5"),
        "test_inputs": data_file(f"test_{modality}_inputs.h5"),
        "metadata": data_file("metadata.csv"),
    }


def own_spec(modality):
    """A modality's own-data entry (schema defaults filled in), or None for competition files."""
    return sorted_dict(config["input"][modality]) if OWN else None


def own_files(modality):
    spec = config["input"][modality]
    if spec["format"] == "mudata":
        return {"data": spec["path"]}
    return {"inputs": spec["inputs"], "targets": spec["targets"]}


def ingest_files(wc):
    return own_files(wc.modality) if OWN else modality_files(wc.modality)


def input_files_to_check(wc):
    """Every input file of the run, checked together before any expensive step (own data: the modality's)."""
    if OWN:
        return own_files(wc.modality)
    files = {f"{m}_{k}": v for m in MODALITIES for k, v in modality_files(m).items() if k != "metadata"}
    files.update(metadata=data_file("metadata.csv"), evaluation_ids=data_file("evaluation_ids.csv"))
    sample = data_file("sample_submission.csv")
    if DEMO or os.path.exists(sample):
        files["sample_submission"] = sample
    return files


def model_config(name, modality=None):
    """A model's config entry; for a modality, ``features`` and ``params`` resolved for it.

    ``features`` is a list or a {modality: list} map; ``modality_params`` overrides ``params``
    per modality (e.g. the 1D-CNN's wider Multiome layers).
    """
    cfg = dict(config["models"][name])  # the schema filled in the defaults
    if modality is not None:
        feats = cfg["features"]
        cfg["features"] = feats.get(modality, ["svd"]) if isinstance(feats, dict) else feats
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
    targets = ["results/report/index.html"]
    targets += expand("results/{modality}/predictions.h5ad", modality=MODALITIES) if OWN else ["results/submission.csv"]
    for m in MODALITIES:
        targets += expand("results/{modality}/models/{model}/metrics.json", modality=m, model=models_for(m))
        targets.append(f"results/{m}/ensemble/metrics.json")
        targets += [f"results/{m}/adversarial.metrics.json", f"results/{m}/cell_type.metrics.json"]
    if DEMO or SCORED:
        targets.append("results/score.json")
    return targets


def target_codec(modality):
    """The target codec's settings for a modality; exact targets depend on none of the SVD's settings."""
    cfg = config["targets"]
    method = cfg["compress"].get(modality, "none")
    if method == "none":
        return {"method": "none"}
    keys = ("n_components", "n_iter", "chunk_rows")
    return {"method": method, **{k: cfg[k] for k in keys}, "seed": config["seed"]}


def model_features(wc):
    return expand(
        "results/{modality}/features/{name}.parquet",
        modality=wc.modality,
        name=model_config(wc.model, wc.modality)["features"],
    )


def pretrainer_input(wc):
    """TabNet models with a `pretrain` entry fine-tune from the cached unsupervised pre-training."""
    cfg = model_config(wc.model, wc.modality)
    if cfg["type"] == "tabnet" and cfg.get("pretrain"):
        return {"pretrainer": f"results/{wc.modality}/models/{wc.model}/pretrainer.zip"}
    return {}


def report_inputs(wildcards):
    files = {}
    for m in MODALITIES:
        files[f"{m}_cells"] = f"results/{m}/ingest/cells.parquet"
        files[f"{m}_targets"] = f"results/{m}/ingest/targets.h5ad"
        files[f"{m}_codec"] = f"results/{m}/targets/codec.npz"
        files[f"{m}_adversarial"] = f"results/{m}/adversarial.parquet"
        files[f"{m}_adversarial_metrics"] = f"results/{m}/adversarial.metrics.json"
        files[f"{m}_cell_type_metrics"] = f"results/{m}/cell_type.metrics.json"
        files[f"{m}_ensemble_metrics"] = f"results/{m}/ensemble/metrics.json"
        for model in ensemble_members(m):
            files[f"{m}_oof_{model}"] = f"results/{m}/models/{model}/oof.h5ad"
        for model in models_for(m):
            files[f"{m}_model_{model}"] = f"results/{m}/models/{model}/metrics.json"
    if DEMO or SCORED:
        files["score"] = "results/score.json"
    return files


def ivis_source(wc):
    """What ivis embeds for a modality: a feature table (e.g. svd, svd_chrom) or the ingested inputs."""
    source = config["features"]["ivis"]["input"]
    source = source.get(wc.modality, "svd") if isinstance(source, dict) else source
    if source == "inputs":
        return f"results/{wc.modality}/ingest/inputs.h5ad"
    return f"results/{wc.modality}/features/{source}.parquet"
