# Shared helpers: config validation, input locations, model lookups, code hashes for reruns.
import hashlib
import json
import os
from pathlib import Path

from snakemake.utils import validate


validate(config, "../schemas/config.schema.yaml")

LIB = Path(workflow.basedir) / "workflow" / "scripts" / "msci"
DEMO = not config["data_dir"]
DATA = config["data_dir"] or "resources/demo/data"
HIDDEN = "resources/demo/hidden"
MODALITIES = list(config["modalities"])
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


def code_hash(*modules):
    """Content hash of library modules (paths under msci/, files or folders) a rule depends on.

    Passed as a rule param, so editing the library reruns exactly the rules that use it.
    """
    h = hashlib.sha256()
    for mod in sorted(set(modules) | {"io", "logs.py", "metrics.py"}):
        p = LIB / mod
        for f in sorted(p.rglob("*.py")) if p.is_dir() else [p]:
            h.update(f.relative_to(LIB).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


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


def model_config(name, modality=None):
    """A model's config entry; for a modality, ``features`` and ``params`` resolved for it.

    ``features`` is a list or a {modality: list} map; ``modality_params`` overrides ``params``
    per modality (e.g. the 1D-CNN's wider Multiome layers).
    """
    cfg = {"modalities": ["cite", "multi"], "features": ["svd"], "params": {}, "modality_params": {},
           **config["models"][name]}
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


def final_targets():
    targets = ["results/submission.csv", "results/report/index.html"]
    for m in MODALITIES:
        targets += expand("results/{modality}/models/{model}/metrics.json", modality=m, model=models_for(m))
        targets.append(f"results/{m}/ensemble/metrics.json")
        targets += [f"results/{m}/adversarial.metrics.json", f"results/{m}/cell_type.metrics.json"]
    if DEMO:
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
        files[f"{m}_ensemble_oof"] = f"results/{m}/ensemble/oof.h5ad"
        for model in models_for(m):
            files[f"{m}_model_{model}"] = f"results/{m}/models/{model}/metrics.json"
    if DEMO:
        files["score"] = "results/score.json"
    return files


def ivis_source(wc):
    """What ivis embeds for a modality: a feature table (e.g. svd, svd_chrom) or the ingested inputs."""
    source = config["features"]["ivis"]["input"]
    source = source.get(wc.modality, "svd") if isinstance(source, dict) else source
    if source == "inputs":
        return f"results/{wc.modality}/ingest/inputs.h5ad"
    return f"results/{wc.modality}/features/{source}.parquet"
