"""One file to hand a trained modality to a colleague: ``NAME.msci``, a zip of exactly the fitted files
``reference.json`` names, the manifest itself and the model card (``model_card.json`` + ``model_card.md``).

:func:`export` packs a finished run's ``results/<modality>`` (its card must be there: rule ``model_card``) after
checking every file against the card's checksums. :func:`unpack` checks an archive before anything in it is
read: the card's format and library versions against this environment (refused across a format or a major
version, warned about otherwise), every member's SHA-256 against the card, no member missing, extra or outside
the archive; then it extracts the archive to a temporary folder for :class:`msci.reference.Reference`.
"""

from __future__ import annotations

import json
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Any

from msci import __version__
from msci.io.artifacts import atomic_path
from msci.io.checks import InputError
from msci.model_card import CARD, CARD_MD, FORMAT, library_versions, sha256

SUFFIX = ".msci"


def read_card(results: str | Path) -> dict[str, Any]:
    """A run folder's model card (one line naming the folder when it has none)."""
    path = Path(results) / CARD
    if not path.exists():
        raise InputError(str(results), f"has no {CARD}; finish the run there (snakemake --cores N, or the target "
                                       f"{Path(results).name}/{CARD} under results/)")
    return json.loads(path.read_text())


def export(results: str | Path, out: str | Path) -> Path:
    """Pack ``results`` (a finished run's ``results/<modality>``) into the archive ``out``; return its path.

    Parameters
    ----------
    results
        The run's modality folder, holding ``reference.json`` and ``model_card.json``.
    out
        The archive to write (``.msci`` is appended where missing); written under a temporary name first.
    """
    results, out = Path(results), Path(out)
    out = out if out.suffix == SUFFIX else out.with_name(out.name + SUFFIX)
    card = read_card(results)
    for rel, digest in card["files"].items():
        path = results / rel
        if not path.is_file() or sha256(path) != digest:
            raise InputError(str(path), "differs from its checksum in the model card (changed since the run); "
                                        "rerun the workflow there before exporting")
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for rel in [CARD, CARD_MD, *card["files"]]:
            z.write(results / rel, rel)
    return out


def _release(version: str) -> str:
    """A version without its local part: ``2.13.0+cpu`` and ``2.13.0+cu121`` are the same release."""
    return version.split("+")[0]


def check_versions(card: dict[str, Any], label: str) -> None:
    """Refuse an archive of another format, or one needing a library this environment lacks or has in another
    major version; warn (one line) where only the release differs, or msci's version."""
    if card.get("format") != FORMAT:
        raise InputError(label, f"is archive format {card.get('format')} (msci {card.get('msci', {}).get('version')})"
                                f"; this msci {__version__} reads format {FORMAT}: load it with that msci version")
    theirs_all = card.get("libraries", {})
    here = library_versions(theirs_all)
    for name, theirs in theirs_all.items():
        ours = here.get(name)
        if theirs is None or (ours is not None and _release(theirs) == _release(ours)):
            continue
        if ours is None:
            raise InputError(label, f"needs {name} (written with {name} {theirs}), which this environment does not "
                                    f"have; install {name}=={_release(theirs)} to load it")
        if theirs.split(".")[0] != ours.split(".")[0]:
            raise InputError(label, f"was written with {name} {theirs} and this environment has {name} {ours} "
                                    f"(another major version); install {name}=={_release(theirs)} to load it")
        warnings.warn(f"{label}: written with {name} {theirs}, loaded with {name} {ours}", stacklevel=3)
    if card.get("msci", {}).get("version") != __version__:
        warnings.warn(f"{label}: written by msci {card.get('msci', {}).get('version')}, loaded by msci {__version__}",
                      stacklevel=3)


def _safe(name: str) -> bool:
    p = PurePosixPath(name)
    return not p.is_absolute() and ".." not in p.parts


def unpack(path: str | Path) -> tuple[tempfile.TemporaryDirectory, dict[str, Any]]:
    """Check the archive ``path`` and extract it to a temporary folder: (the folder, the card).

    Every problem is one :class:`InputError` line naming the archive."""
    label = str(path)
    tmp = tempfile.TemporaryDirectory(prefix="msci-model-")
    try:
        card = _extract(Path(path), label, Path(tmp.name))
        for rel, digest in card["files"].items():
            if sha256(Path(tmp.name) / rel) != digest:
                raise InputError(label, f"is damaged or edited: {rel} differs from its checksum in the model card")
    except BaseException:
        tmp.cleanup()
        raise
    return tmp, card


def _extract(path: Path, label: str, folder: Path) -> dict[str, Any]:
    """The card of the archive at ``path``, checked, and its members extracted into ``folder``."""
    if not zipfile.is_zipfile(path):
        raise InputError(label, "is not an msci archive (not a zip file)")
    try:
        with zipfile.ZipFile(path) as z:
            names = {n for n in z.namelist() if not n.endswith("/")}  # folders, where a zip tool added them
            if CARD not in names:
                raise InputError(label, f"is not an msci archive (no {CARD})")
            card = json.loads(z.read(CARD))
            if not isinstance(card, dict) or not isinstance(card.get("files"), dict):
                raise InputError(label, f"its {CARD} is not a model card")
            check_versions(card, label)
            expected = set(card["files"]) | {CARD, CARD_MD}
            if names != expected:
                odd = sorted(names ^ expected)[0]
                raise InputError(label, f"is damaged or edited: {odd} is {'extra' if odd in names else 'missing'}")
            if not all(_safe(n) for n in names):
                raise InputError(label, "has members outside the archive's folder")
            for name in sorted(names):
                z.extract(name, folder)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as e:
        raise InputError(label, f"is damaged ({' '.join(str(e).split())})") from None
    return card
