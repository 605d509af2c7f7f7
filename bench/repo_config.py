"""The repository's workflow as the benches read it: the default and optional models, the workflow's config with the
schema's defaults filled in, and the names of rule encode_targets' outputs. One home, so every bench reads what the
workflow reads.

Imports ``yaml`` and Snakemake only when called: rendering the docs from the benches stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _models(name: str) -> dict[str, Any]:
    import yaml

    return yaml.safe_load((REPO / name).read_text())["models"]


def default_models() -> dict[str, Any]:
    """The default run's models (config.yaml), name → entry."""
    return _models("config.yaml")


def optional_models() -> dict[str, Any]:
    """The models kept out of the default run (optional_models.yaml), name → entry."""
    return _models("optional_models.yaml")


def workflow_config() -> dict[str, Any]:
    """config.yaml with every default filled in by the schema, exactly as the workflow validates it."""
    import yaml
    from snakemake.utils import validate

    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    validate(cfg, str(REPO / "workflow" / "schemas" / "config.schema.yaml"))
    return cfg


def target_files(folder: str | Path):
    """Rule encode_targets' four outputs in ``folder``, as the library's ``TargetFiles``."""
    from msci.split_codecs import TargetFiles

    names = ("codes.h5ad", "codec.npz", "split_codes.h5ad", "split_codecs.npz")
    return TargetFiles(*(str(Path(folder) / name) for name in names))
