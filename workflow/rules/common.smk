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


def model_config(name):
    cfg = config["models"][name]
    return {"modalities": ["cite", "multi"], "features": ["svd"], "params": {}, **cfg}


def models_for(modality):
    return [n for n in config["models"] if modality in model_config(n)["modalities"]]


def ensemble_members(modality):
    chosen = config["ensemble"]["models"] or models_for(modality)
    members = [m for m in chosen if m in models_for(modality)]
    if not members:
        raise ValueError(f"no model configured for modality {modality}")
    return members


def final_targets():
    targets = ["results/submission.csv"]
    for m in MODALITIES:
        targets += expand("results/{modality}/models/{model}/metrics.json", modality=m, model=models_for(m))
        targets.append(f"results/{m}/ensemble/metrics.json")
    if DEMO:
        targets.append("results/score.json")
    return targets
