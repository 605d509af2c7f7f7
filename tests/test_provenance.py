import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import REPO

from msci.provenance import code_hash, library_modules

SCRIPTS = REPO / "workflow" / "scripts"
LIB = SCRIPTS / "msci"


def _package(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "msci"
    (root / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "sub/__init__.py": "",
        "a.py": "from msci.sub.b import f\n",
        "sub/b.py": "def f():\n    from msci.c import g  # imported only when f runs\n    return g\n",
        "c.py": "import numpy\n",
        "unused.py": "",
    }
    for name, text in files.items():
        (root / name).write_text(text)
    script = tmp_path / "wrapper.py"
    script.write_text("from msci import a\nfrom msci.sub import b as _b\n")
    return script, root


def test_modules_follow_imports_transitively_including_imports_inside_functions(tmp_path):
    script, root = _package(tmp_path)
    found = {p.relative_to(root).as_posix() for p in library_modules(script, root)}
    assert found == {"__init__.py", "sub/__init__.py", "a.py", "sub/b.py", "c.py"}


def test_hash_changes_with_a_reached_module_and_not_with_others(tmp_path):
    script, root = _package(tmp_path)
    before = code_hash(script, root)
    (root / "unused.py").write_text("x = 1\n")
    assert code_hash(script, root) == before
    (root / "c.py").write_text("import numpy  # edited\n")
    assert code_hash(script, root) != before


def test_hash_changes_with_the_wrapper_itself_and_not_with_its_modification_time(tmp_path):
    script, root = _package(tmp_path)
    before = code_hash(script, root)
    os.utime(script, (1e9, 1e9))
    assert code_hash(script, root) == before
    script.write_text(script.read_text() + "# edited\n")
    assert code_hash(script, root) != before


def test_every_module_python_loads_for_a_wrapper_is_in_its_derived_set():
    """An independent check: what the interpreter really imports is covered by the derived set."""
    scripts = sorted(SCRIPTS.glob("*.py"))
    # One interpreter for all wrappers (third-party imports load once); msci is unloaded between them, so
    # each wrapper's msci modules are what its own import lines load.
    probe = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(SCRIPTS)!r})
        loaded = {{}}
        for name, imports in json.loads(sys.stdin.read()).items():
            for n in [n for n in sys.modules if n.split('.')[0] == 'msci']:
                del sys.modules[n]
            exec("\\n".join(imports), {{}})
            loaded[name] = [m.__file__ for n, m in sys.modules.items() if n.split('.')[0] == 'msci']
        print(json.dumps(loaded))
    """)
    imports = {s.name: [ln for ln in s.read_text().splitlines() if ln.startswith(("from msci", "import msci"))]
               for s in scripts}
    out = subprocess.run([sys.executable, "-c", probe], input=json.dumps(imports), capture_output=True, text=True,
                         check=True).stdout
    loaded_by = json.loads(out)
    assert sorted(loaded_by) == [s.name for s in scripts]
    for script in scripts:
        loaded = {Path(p).resolve() for p in loaded_by[script.name]}
        derived = {p.resolve() for p in library_modules(script, LIB)}
        assert loaded and loaded <= derived, (script.name, sorted(loaded - derived))


def _changed_hashes(tmp_path: Path, edited: str) -> set[str]:
    """Wrappers whose code hash changes when the library file ``edited`` (relative to msci/) changes."""
    lib = tmp_path / "msci"
    shutil.copytree(LIB, lib, ignore=shutil.ignore_patterns("__pycache__"))
    scripts = sorted(SCRIPTS.glob("*.py"))
    before = {s.name: code_hash(s, lib) for s in scripts}
    with (lib / edited).open("a") as fh:
        fh.write("# edited\n")
    return {s.name for s in scripts if code_hash(s, lib) != before[s.name]}


def test_editing_the_svd_feature_family_reruns_only_its_rule(tmp_path):
    """features/svd.py holds only the svd family (its fit, and its projection of a query's cells); the chunked SVD
    that others share lives in msci/chunked_svd.py."""
    assert _changed_hashes(tmp_path, "features/svd.py") == {"features_svd.py", "query.py"}
    for script in ("encode_targets.py", "features_lsi.py", "features_svd_chrom.py", "ensemble.py", "submission.py"):
        modules = {p.relative_to(LIB).as_posix() for p in library_modules(SCRIPTS / script, LIB)}
        assert "features/svd.py" not in modules and "chunked_svd.py" in modules, script


def test_editing_the_chunked_svd_core_reruns_every_rule_that_uses_it(tmp_path):
    """The counterpart: an edit of the shared core does reach its users (the check above can fail)."""
    users = {"features_svd.py", "features_lsi.py", "features_svd_chrom.py", "encode_targets.py", "ensemble.py"}
    assert users <= _changed_hashes(tmp_path, "chunked_svd.py")


def test_a_registry_walking_its_package_reaches_every_module_beside_it(tmp_path):
    root = tmp_path / "msci"
    (root / "models").mkdir(parents=True)
    for name, text in {"__init__.py": "", "models/__init__.py": "", "models/one.py": "", "models/two.py": "",
                       "models/registry.py": "import pkgutil\nMODULES = list(pkgutil.iter_modules(__path__))\n",
                       "other.py": ""}.items():
        (root / name).write_text(text)
    script = tmp_path / "wrapper.py"
    script.write_text("from msci.models.registry import MODULES\n")
    found = {p.relative_to(root).as_posix() for p in library_modules(script, root)}
    assert {"models/one.py", "models/two.py", "models/registry.py"} <= found and "other.py" not in found


def test_editing_a_model_module_reruns_the_rules_that_train_or_load_models(tmp_path):
    changed = _changed_hashes(tmp_path, "models/pls.py")
    assert {"train_model.py", "query.py"} <= changed and "features_svd.py" not in changed
