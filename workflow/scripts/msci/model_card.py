"""A model card for one modality of a finished run: what it was trained on, how, with what, and how well.

:func:`build_card` gathers it from the run's own files (the training cells' table, the input space, the codec, the
models' and the blend's metrics, the held-out score where the run has one) and the config that made it;
:func:`file_checksums` adds the SHA-256 of every fitted file ``reference.json`` names, which an archive
(:mod:`msci.archive`) is checked against when loaded. :func:`render_markdown` writes it for people.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from msci import __version__

# The archive layout this msci writes and reads: bump when reference.json's content or the files it names change
# in a way an older reader cannot load.
FORMAT = 1
# The distributions a library is published as (CPU and GPU builds go under other names).
DISTRIBUTIONS = {"xgboost": ("xgboost", "xgboost-cpu"), "tensorflow": ("tensorflow", "tensorflow-cpu")}
# What every reference reads (arrays, the input space, the skops-saved bases and codecs), and what a feature
# family's fitted files need beyond that.
BASE_LIBRARIES = ("numpy", "anndata", "scikit-learn", "skops")
FAMILY_LIBRARIES = {"ivis": ("ivis", "tensorflow", "tf-keras")}
CARD = "model_card.json"
CARD_MD = "model_card.md"


def library_versions(names) -> dict[str, str | None]:
    """The installed version of each library in ``names`` (``None`` where absent)."""
    out: dict[str, str | None] = {}
    for name in names:
        out[name] = None
        for dist in DISTRIBUTIONS.get(name, (name,)):
            try:
                out[name] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return out


def libraries_used(root: str | Path, manifest: Mapping[str, Any],
                   model_libraries: Mapping[str, Sequence[str]]) -> list[str]:
    """The libraries whose formats a reference's fitted files are stored in: the base set, each blended model
    type's (``model_libraries``: type → libraries, as registered) and each feature family's."""
    from msci.io.fitted import read_manifest

    used = list(BASE_LIBRARIES)
    for member in manifest["members"].values():
        used += model_libraries[read_manifest(Path(root) / member["fitted"])["type"]]
    for family in manifest["families"]:
        used += FAMILY_LIBRARIES.get(family, ())
    return list(dict.fromkeys(used))


def msci_commit(repo: str | Path) -> dict[str, Any]:
    """The checkout's commit (and whether its tracked files differ from it), or ``None`` outside a git checkout."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        dirty = bool(git("status", "--porcelain", "--untracked-files=no").strip())
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def fitted_files(manifest: Mapping[str, Any]) -> list[str]:
    """Every path (relative to ``results/<modality>``) that a reference manifest names: files and folders."""
    paths = [manifest["inputs"], manifest["codec"], manifest["split_codecs"], manifest["ensemble"]["weights"],
             manifest["units"]["model"], manifest["units"]["metrics"]]
    paths += [spec["fitted"] for spec in manifest["families"].values() if spec.get("fitted")]
    for member in manifest["members"].values():
        paths += [member["fitted"], member["metrics"]]
    return sorted(set(paths))


def file_checksums(root: str | Path, manifest: Mapping[str, Any]) -> dict[str, str]:
    """SHA-256 of every file the manifest names, folders walked (POSIX paths relative to ``root``), and of the
    manifest itself."""
    root = Path(root)
    files = []
    for rel in fitted_files(manifest):
        path = root / rel
        if not path.exists():
            raise FileNotFoundError(f"{root}: {rel}, named by reference.json, is missing")
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    files.append(root / "reference.json")
    return {p.relative_to(root).as_posix(): sha256(p) for p in files}


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _counts(values: pd.Series) -> dict[str, int]:
    """Value counts of a metadata column (most frequent first), missing values left out."""
    return {str(k): int(v) for k, v in values.dropna().astype(str).value_counts().items()}


def training_data(cells: pd.DataFrame, input_names, target_names, normalize: str,
                  target_normalize: str) -> dict[str, Any]:
    """The card's ``training_data``: the training cells by day (batch), donor and cell type where known, and the
    features and targets by name."""
    train = cells[cells["split"] == "train"] if "split" in cells else cells
    out: dict[str, Any] = {"n_cells": int(len(train)), "n_test_cells": int(len(cells) - len(train))}
    for col in ("day", "donor", "cell_type", "technology"):
        if col in train and train[col].notna().any():
            out[col] = _counts(train[col])
    out["inputs"] = {"n": len(input_names), "normalize": normalize, "names": [str(n) for n in input_names]}
    out["targets"] = {"n": len(target_names), "normalize": target_normalize, "names": [str(n) for n in target_names]}
    return out


def scores(member_metrics: Mapping[str, str | Path], ensemble_metrics: str | Path,
           held_out: Mapping[str, Any] | None) -> dict[str, Any]:
    """CV scores of each blended model and of the blend (with its weights), and the held-out score of the test
    cells where the run has their targets (``None`` otherwise)."""
    def read(p):
        return json.loads(Path(p).read_text())

    blend = read(ensemble_metrics)
    keep = ("cv_pearson", "cv_pearson_day_out", "stop_on")
    return {
        "models": {n: {k: v for k, v in read(p).items() if k in keep} for n, p in member_metrics.items()},
        "blend": {k: v for k, v in blend.items() if k.startswith("cv_pearson") or k in ("weights", "fit_on")},
        "held_out": held_out,
    }


def build_card(*, modality: str, manifest: Mapping[str, Any], training: Mapping[str, Any],
               scores: Mapping[str, Any], config: Mapping[str, Any], checksums: Mapping[str, str],
               libraries: list[str], repo: str | Path | None = None) -> dict[str, Any]:
    """The whole card (JSON-ready): format, msci's version and commit (of the checkout at ``repo``, by default
    the one this library is in), the versions of ``libraries`` (:func:`libraries_used`), date, licence, training
    data, scores, the config that made the run, and the fitted files' checksums."""
    card_cfg = config.get("model_card", {})
    return {
        "format": FORMAT,
        "name": card_cfg.get("name") or f"msci {modality}",
        "description": card_cfg.get("description", ""),
        "licence": card_cfg.get("licence") or None,
        "modality": modality,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "msci": {"version": __version__, **msci_commit(repo or Path(__file__).parent)},
        "libraries": library_versions(libraries),
        "training_data": dict(training),
        "scores": dict(scores),
        "members": sorted(manifest["members"]),
        "config": dict(config),
        "files": dict(checksums),
    }


def _fmt(x: Any) -> str:
    return f"{x:.4f}" if isinstance(x, float) else "—" if x is None else str(x)


def _some(counts: Mapping[str, int], n: int = 8) -> str:
    items = [f"{k} ({v:,})" for k, v in list(counts.items())[:n]]
    return ", ".join(items) + (f", … ({len(counts)} in all)" if len(counts) > n else "")


def _held_out(held: Mapping[str, Any] | None) -> str:
    """The held-out score in a line: the competition's metric on hidden targets, or own data's test cells."""
    if not held:
        return "no targets for the run's test cells (not scored)"
    if "field_metrics" in held:
        f = held["field_metrics"]
        base = f.get("baseline_mean_profile") or {}
        return (f"{held['n_cells']:,} cells: per-cell Pearson {_fmt(f['blend']['mean_pearson_per_cell'])}, RMSE "
                f"{_fmt(f['blend']['rmse'])} (training mean profile: {_fmt(base.get('mean_pearson_per_cell'))}, "
                f"{_fmt(base.get('rmse'))})")
    return ", ".join(f"{k} {_fmt(v)}" for k, v in held.items() if not isinstance(v, Mapping))


def render_markdown(card: Mapping[str, Any]) -> str:
    """The card for people: a short Markdown page (the JSON holds everything, names and config in full)."""
    data, sc, ms = card["training_data"], card["scores"], card["msci"]
    lines = [f"# {card['name']}", "", *([card["description"], ""] if card["description"] else []),
             f"- modality: {card['modality']}; blended models: {', '.join(card['members'])}",
             f"- made by msci {ms['version']} (commit {ms['commit'] or 'unknown'}"
             f"{', modified checkout' if ms.get('dirty') else ''}) on {card['created']}; archive format "
             f"{card['format']}",
             f"- licence of the training data: {card['licence'] or 'not given (config model_card.licence)'}",
             "", "## Training data", "",
             f"- {data['n_cells']:,} training cells ({data['n_test_cells']:,} test cells predicted by the run)"]
    for col in ("day", "donor", "cell_type", "technology"):
        if col in data:
            lines.append(f"- {col}: {_some(data[col])}")
    for kind in ("inputs", "targets"):
        d = data[kind]
        lines.append(f"- {kind}: {d['n']:,} (normalised: {d['normalize']}), e.g. {', '.join(d['names'][:5])}")
    lines += ["", "## Scores", "", "| model | CV Pearson | day-out CV Pearson |", "| --- | --- | --- |"]
    for name, m in sc["models"].items():
        lines.append(f"| {name} | {_fmt(m.get('cv_pearson'))} | {_fmt(m.get('cv_pearson_day_out'))} |")
    blend = sc["blend"]
    lines.append(f"| blend | {_fmt(blend.get('cv_pearson_holdout'))} | {_fmt(blend.get('cv_pearson_day_out'))} |")
    lines += ["", "Blend weights: " + ", ".join(f"{k} {_fmt(v)}" for k, v in (blend.get("weights") or {}).items()
                                                if not isinstance(v, list))]
    lines += ["", "Held-out test cells: " + _held_out(sc.get("held_out"))]
    libs = ", ".join(f"{k} {v}" for k, v in card["libraries"].items() if v)
    lines += ["", "## Versions", "", libs, "",
              f"{len(card['files'])} fitted files, each with its SHA-256 in model_card.json; the config that made "
              "the run is there in full.", ""]
    return "\n".join(lines)
