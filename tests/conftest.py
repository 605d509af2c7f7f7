"""Shared fixtures: tiny simulated competition data and a Snakemake runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from msci.simulate import ModalitySize, SimulationConfig, simulate_competition

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "seed": 3,
    "cite": {"n_train": 240, "n_test": 120, "n_inputs": 160, "n_targets": 16},
    "multi": {"n_train": 240, "n_test": 120, "n_inputs": 400, "n_targets": 40},
}


def tiny_config(**overrides) -> SimulationConfig:
    d = {**TINY, **overrides}
    return SimulationConfig(seed=d["seed"], cite=ModalitySize(**d["cite"]), multi=ModalitySize(**d["multi"]))


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> tuple[Path, Path]:
    """Tiny competition-format data (read-only for tests): ``(data_dir, hidden_dir)``."""
    root = tmp_path_factory.mktemp("tiny")
    simulate_competition(root / "data", root / "hidden", tiny_config())
    return root / "data", root / "hidden"


# A workflow run that hangs fails the test (fixtures too, which pytest-timeout's per-test limit leaves out).
SNAKEMAKE_TIMEOUT = 1800


def run_snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the workflow of this repository in ``workdir`` with the test's extra arguments."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", "--resources", "gpu=1", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, timeout=SNAKEMAKE_TIMEOUT)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


RUN_FOLDERS = ("results/", "resources/", "logs/", "benchmarks/", ".snakemake/")


def _checkout_state(skip: tuple[str, ...] = ()) -> set[str]:
    """Untracked and ignored paths of the checkout, less caches, the venv and the folders in ``skip``."""
    out = subprocess.run(["git", "status", "--porcelain", "--ignored=matching", "--untracked-files=all"], cwd=REPO,
                         capture_output=True, text=True).stdout
    caches = ("__pycache__", ".pytest_cache", ".ruff_cache", ".venv/", *skip)
    return {ln for ln in out.splitlines() if not any(c in ln for c in caches)}


@pytest.fixture(scope="session", autouse=True)
def checkout_stays_clean():
    """Tests write only under temporary folders: the checkout is as it was after the whole session.

    Where the checkout already holds a run of its own (`make demo`), its run folders are left out:
    that run may still be going.
    """
    if not (REPO / ".git").exists():
        yield
        return
    skip = RUN_FOLDERS if (REPO / ".snakemake").exists() else ()
    before = _checkout_state(skip)
    yield
    new = sorted(_checkout_state(skip) - before)
    assert not new, f"the test run wrote into the checkout: {new[:10]}"


TINY_YAML = str(REPO / "tests" / "tiny.yaml")


@pytest.fixture(scope="session")
def workflow_copy(tmp_path_factory) -> Path:
    """A private copy of the workflow, so tests may edit its library without touching the repo."""
    dst = tmp_path_factory.mktemp("wf")
    for item in ("Snakefile", "config.yaml", "workflow", "envs"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst / item)
    return dst


@pytest.fixture(scope="session")
def demo_run(workflow_copy, tmp_path_factory) -> Path:
    """The whole workflow on tiny demo data, run once per session (tests read it, or copy it to change it)."""
    run = tmp_path_factory.mktemp("run")
    run_snakemake(run, "-s", str(workflow_copy / "Snakefile"), "--configfile", TINY_YAML)
    return run


def workflow_with_models(root: Path, keep: tuple[str, ...]) -> tuple[Path, Path]:
    """A copy of the workflow whose config.yaml keeps only the models ``keep`` (a config file given
    with --configfile adds to the default models; it cannot remove them), and tests/tiny.yaml for it."""
    dst = root / "wf"
    dst.mkdir()
    for item in ("Snakefile", "workflow", "envs"):
        src = REPO / item
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst / item)
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["models"] = {k: v for k, v in config["models"].items() if k in keep}
    (dst / "config.yaml").write_text(yaml.safe_dump(config))
    tiny = yaml.safe_load(Path(TINY_YAML).read_text())
    tiny["models"] = {k: v for k, v in tiny["models"].items() if k in keep}
    (root / "tiny.yaml").write_text(yaml.safe_dump(tiny))
    return dst / "Snakefile", root / "tiny.yaml"


def encode(folder: Path, targets_path: Path, folds_path: Path, method: str = "none", **svd):
    """The training targets of ``targets_path`` encoded as rule encode_targets does (files under ``folder``):
    exact (``none``), or SVD codes with ``svd`` settings (``n_components``, ``n_iter``, ``seed``)."""
    from msci.split_codecs import TargetFiles, encode_split_targets

    files = TargetFiles(*(str(folder / f) for f in ("codes.h5ad", "codec.npz", "split_codes.h5ad", "split_codecs.npz")))
    settings = {"n_components": None, "n_iter": None, "seed": None} if method == "none" else {"n_iter": 4, "seed": 0}
    encode_split_targets(str(targets_path), str(folds_path), files, method=method, chunk_rows=64,
                         **{**settings, **svd})
    return files
