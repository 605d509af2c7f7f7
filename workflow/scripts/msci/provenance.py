"""Which library modules a rule's wrapper script runs, read from the code itself, and their content hash.

Snakemake tracks a rule's wrapper script by its modification time (so a fresh clone would rerun
everything) and not the library modules it imports; each rule therefore carries :func:`code_hash` of
its wrapper and the wrapper's modules as a parameter, and the workflow profile turns Snakemake's
mtime-based ``code`` trigger off. The module set is the wrapper's ``msci`` imports followed
transitively (imports inside functions included, the packages' ``__init__`` files that importing
runs, and every module of a package whose registry imports them all through ``pkgutil.iter_modules``),
never a hand-kept list, so an edit reruns exactly the rules whose code it changes.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
from pathlib import Path

PACKAGE = "msci"
# What a module that walks its own package (``pkgutil.iter_modules``) imports: every module beside it.
EVERY_SIBLING = "*"


def _imported_names(path: Path) -> frozenset[str]:
    """Dotted names of every ``msci`` module or attribute the file imports, anywhere in it."""
    stat = path.stat()
    return _parse_imports(str(path), stat.st_mtime_ns, stat.st_size)


@functools.cache
def _parse_imports(path: str, mtime_ns: int, size: int) -> frozenset[str]:
    """:func:`_imported_names` of one version of a file: each file is parsed once per DAG build."""
    tree = ast.parse(Path(path).read_text(), filename=path)
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == PACKAGE:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)  # may be a submodule
        elif isinstance(node, ast.Call) and _called_name(node) == "iter_modules":
            names.add(EVERY_SIBLING)  # a registry importing every module of its package (msci.models.registry)
    return frozenset(names)


def _called_name(call: ast.Call) -> str | None:
    """``f`` of a call ``f(...)`` or ``x.f(...)``."""
    return getattr(call.func, "attr", getattr(call.func, "id", None))


def _module_files(dotted: str, root: Path) -> list[Path]:
    """Files that importing ``dotted`` executes: each package's ``__init__.py`` on the way and the module."""
    parts = dotted.split(".")[1:]
    files = [root / "__init__.py"]
    for i in range(1, len(parts) + 1):
        base = root.joinpath(*parts[:i])
        if (base / "__init__.py").exists():
            files.append(base / "__init__.py")
        elif base.with_suffix(".py").exists():
            files.append(base.with_suffix(".py"))
            break
        else:  # an attribute (function, class) of the module before it
            break
    return [f for f in files if f.exists()]


def library_modules(script: str | os.PathLike, root: str | os.PathLike) -> list[Path]:
    """Library files (under the package folder ``root``) that running ``script`` imports, transitively."""
    root = Path(root)
    seen: set[Path] = set()
    todo = [Path(script)]
    while todo:
        current = todo.pop()
        for name in _imported_names(current):
            files = sorted(current.parent.glob("*.py")) if name == EVERY_SIBLING else _module_files(name, root)
            for f in files:
                if f not in seen:
                    seen.add(f)
                    todo.append(f)
    return sorted(seen)


def code_hash(script: str | os.PathLike, root: str | os.PathLike) -> str:
    """Content hash of ``script`` and the library files it runs (names and bytes), 16 hex digits."""
    root = Path(root)
    h = hashlib.sha256()
    # the wrapper first, then its modules: a module may share the wrapper's file name (ensemble.py)
    files = [(Path(script).name, Path(script))]
    files += [(f.relative_to(root).as_posix(), f) for f in library_modules(script, root)]
    for name, f in files:
        data = f.read_bytes()
        h.update(f"{name}\0{len(data)}\0".encode())  # each file delimited: no two splits hash alike
        h.update(data)
    return h.hexdigest()[:16]
