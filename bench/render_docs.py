"""Fill the generated blocks of README.md and docs/*.md from the benches' saved results.

A block is the lines between ``<!-- bench:NAME -->`` (or ``<!-- bench:NAME:PART -->``) and
``<!-- /bench -->``, each marker on its own line. Its text is ``bench/NAME.py``'s
``render(doc, PART)`` of ``bench/results/NAME.json``, or a "not measured" line when that file does not
exist. ``make docs`` rewrites the files in place; ``--check`` rewrites nothing and exits 1 naming
each file whose blocks differ from their rendering.

Run: ``.venv/bin/python bench/render_docs.py [--check]``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from record import load, not_measured  # noqa: E402

OPEN = re.compile(r"^<!-- bench:(?P<name>[A-Za-z0-9_]+)(?::(?P<part>[A-Za-z0-9_]+))? -->$")
CLOSE = "<!-- /bench -->"
_modules: dict[Path, ModuleType] = {}


class MarkerError(ValueError):
    """A malformed or unknown generated block, named by file and line."""


def doc_files(root: Path) -> list[Path]:
    """The files whose blocks are generated: README.md and docs/*.md under ``root``."""
    files = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    return [f for f in files if f.exists()]


def bench_module(name: str, bench_dir: Path) -> ModuleType | None:
    """``bench_dir/NAME.py`` imported once (``None`` when there is no such bench)."""
    path = (bench_dir / f"{name}.py").resolve()
    if not path.exists():
        return None
    if path not in _modules:
        spec = importlib.util.spec_from_file_location(f"_bench_{name}_{len(_modules)}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _modules[path] = module
    return _modules[path]


def renderer(name: str, bench_dir: Path) -> Callable[[dict, str | None], str] | None:
    """The bench's ``render`` function, or ``None`` when the bench or its ``render`` does not exist."""
    module = bench_module(name, bench_dir)
    return getattr(module, "render", None) if module else None


def render_block(name: str, part: str | None, bench_dir: Path, results_dir: Path) -> str:
    """The text of one block (no markers)."""
    doc = load(name, results_dir)
    if doc is None:
        return not_measured(name)
    return renderer(name, bench_dir)(doc, part).strip("\n")


def render_text(text: str, where: str, bench_dir: Path, results_dir: Path) -> str:
    """``text`` with every generated block rendered; ``where`` names the file in errors."""
    lines, out, i, fence = text.split("\n"), [], 0, None
    while i < len(lines):
        fence = _fence(lines[i], fence)
        hit = None if fence else OPEN.match(lines[i].rstrip())
        out.append(lines[i])
        if not hit:
            i += 1
            continue
        name, part, start = hit["name"], hit["part"], i + 1
        end = _closing(lines, i, where)
        if renderer(name, bench_dir) is None:
            raise MarkerError(f"{where}:{start}: unknown bench {name!r} (no bench/{name}.py with a render function)")
        out.append(render_block(name, part, bench_dir, results_dir))
        out.append(lines[end])
        i = end + 1
    return "\n".join(out)


def _fence(line: str, fence: str | None) -> str | None:
    """The open code fence after ``line`` (markers inside fenced code are examples, not blocks)."""
    s = line.lstrip()
    mark = s[:3] if s[:3] in ("```", "~~~") else None
    if fence is None:
        return mark
    return None if mark == fence else fence


def _closing(lines: list[str], i: int, where: str) -> int:
    """Index of the line that closes the block opened on line ``i``."""
    for j in range(i + 1, len(lines)):
        s = lines[j].rstrip()
        if s == CLOSE:
            return j
        if OPEN.match(s):
            break
    raise MarkerError(f"{where}:{i + 1}: block {lines[i].strip()} is not closed by {CLOSE}")


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path``'s content with ``text`` through a temporary file in the same folder."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_docs(root: Path, bench_dir: Path = BENCH, results_dir: Path | None = None,
                check: bool = False) -> list[Path]:
    """Render every doc file under ``root``; returns the files whose blocks differed (rewritten unless ``check``)."""
    results_dir = results_dir or bench_dir / "results"
    changed = []
    for path in doc_files(root):
        text = path.read_text()
        new = render_text(text, str(path.relative_to(root)), bench_dir, results_dir)
        if new != text:
            changed.append(path)
            if not check:
                write_atomic(path, new)
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line: rewrite the docs, or with ``--check`` exit 1 when any differs from its rendering."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="rewrite nothing; exit 1 if any file's blocks differ")
    ap.add_argument("--root", type=Path, default=BENCH.parent, help="folder with README.md and docs/")
    args = ap.parse_args(argv)
    try:
        changed = render_docs(args.root, check=args.check)
    except MarkerError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in changed:
        rel = path.relative_to(args.root)
        print(f"{rel}: generated blocks differ from bench/results/ (run make docs)" if args.check
              else f"{rel}: rendered")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
