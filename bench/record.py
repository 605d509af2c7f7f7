"""Bench results as committed JSON, so that every figure in the docs is generated from a measurement.

``save(name, results, config)`` writes ``bench/results/NAME.json`` (atomically) as
``{"bench", "commit", "date", "cores", "config", "results"}``; ``load(name)`` reads it back (``None``
when the bench has not been run). The helpers below it are shared by the benches' ``render``
functions: a Markdown table, number formats, and the footer line naming command, commit, date and cores.
Only the standard library here, so that rendering the docs imports nothing heavy.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import shlex
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"


def _git(*args: str) -> str:
    """One git command's stdout in the repository (raises when git or the repository is missing)."""
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def commit() -> str:
    """The checkout's short commit, ``+dirty`` when tracked files (outside bench/results/) have changes."""
    try:
        sha = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench/results")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("+dirty" if dirty else "")


_AT_START = commit()  # benches import this module first: the checkout their code came from


def run_commit() -> str:
    """The commit at the bench's start, ``+dirty`` as well when the checkout changed while it ran."""
    return _AT_START if commit() == _AT_START else _AT_START.removesuffix("+dirty") + "+dirty"


# What the workflow's results cannot depend on: its docs, tests and benches (results from two commits that differ only
# here were computed by the same workflow code).
NOT_WORKFLOW = ("README.md", "docs", "tests", "bench")


def same_workflow(a: str, b: str) -> bool:
    """Whether commits ``a`` and ``b`` run the same workflow code: equal, or differing only in ``NOT_WORKFLOW``."""
    if a == b:
        return True
    if "+dirty" in a + b or "unknown" in (a, b):
        return False
    try:
        _git("diff", "--quiet", a, b, "--", ".", *(f":(exclude){p}" for p in NOT_WORKFLOW))
    except (OSError, subprocess.CalledProcessError):
        return False
    return True


def portable(value: Any) -> Any:
    """``value`` with absolute paths made machine-independent: relative to the repository when inside it or
    beside it (the shared data next to the checkout), else just the last folder's name."""
    if isinstance(value, Mapping):
        return {k: portable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [portable(v) for v in value]
    if isinstance(value, Path) or (isinstance(value, str) and os.path.isabs(value)):
        path = Path(os.path.abspath(value))  # symlinks kept: the path as the user gave it
        if path.is_relative_to(REPO.parent):
            return os.path.relpath(path, REPO)
        return path.name
    return value


def _plain(value: Any) -> Any:
    """JSON fallback for NumPy scalars and arrays (without importing NumPy) and paths."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def save(name: str, results: Any, config: Mapping[str, Any], results_dir: Path = RESULTS) -> Path:
    """Write ``results_dir/NAME.json`` atomically (temp file + rename) with commit, UTC date, cores and config."""
    doc = {
        "bench": name,
        "commit": run_commit(),
        "date": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "cores": os.cpu_count(),
        "config": portable(dict(config)),
        "results": results,
    }
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=results_dir)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(doc, f, indent=1, default=_plain)
            f.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would keep the results from other users of the checkout
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    print(f"results: {os.path.relpath(path, REPO) if path.is_relative_to(REPO) else path}", flush=True)
    return path


def load(name: str, results_dir: Path = RESULTS) -> dict | None:
    """The saved results of bench ``name``, or ``None`` when it has not been run at this version."""
    path = results_dir / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


# --- helpers for the benches' render functions --------------------------------------------------


def command(doc: Mapping[str, Any]) -> str:
    """The command line that produced ``doc``: ``python bench/NAME.py`` with its recorded arguments."""
    parts = [f"python bench/{doc['bench']}.py"]
    config = dict(doc.get("config") or {})
    positional = config.pop("step", None)
    if positional is not None:
        parts.append(str(positional))
    for key, value in config.items():
        flag = "--" + key.replace("_", "-")
        if value is None or value is False or (isinstance(value, list | tuple) and not value):
            continue
        if value is True:
            parts.append(flag)
        elif isinstance(value, list | tuple):
            parts.append(flag + " " + " ".join(shlex.quote(str(v)) for v in value))
        else:
            parts.append(f"{flag} {shlex.quote(str(value))}")
    return " ".join(parts)


def footer(doc: Mapping[str, Any], note: str = "") -> str:
    """The line under a generated table: command, commit, date and core count (and an optional note)."""
    line = f"`{command(doc)}` at commit {doc['commit']}, {doc['date'][:10]}, {doc['cores']} cores"
    return line + (f"; {note}" if note else "") + "."


def table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """A Markdown table."""
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: float | None, digits: int = 4) -> str:
    """A score or time to ``digits`` decimals; an en dash for a missing or non-finite value."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:,.{digits}f}"


def not_measured(name: str) -> str:
    """The block text of a bench without results at this version."""
    return f"_Not measured at this version: run `python bench/{name}.py`._"
