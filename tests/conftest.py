"""Shared fixtures: tiny simulated competition data and a Snakemake runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def run_snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the workflow of this repository in ``workdir`` with the test's extra arguments."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", "--resources", "gpu=1", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir)
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
