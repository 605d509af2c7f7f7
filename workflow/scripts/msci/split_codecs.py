"""Target codecs per cross-validation split: no CV score goes through a gene basis its scored cells helped fit.

:mod:`msci.target_codes` compresses targets to codes through a gene basis fit on training cells. A basis
fit on all training cells has seen every fold's held-out cells, which flatters every CV score
(``bench/codec_fold.py``). So besides the global codec (all training cells: the space of test predictions,
decoded by the submission), rule ``encode_targets`` fits one codec per CV split — fold k, whose model trains
without fold k's cells, and the day-out split, whose model trains without the latest training day — on that
split's training cells only, with the same number of codes, and writes (:class:`TargetFiles`):

* ``split_codes.h5ad``: layer ``<split>`` (``fold_0``, …, ``day_out``) holds every training cell's codes
  under that split's codec: what the split's model trains and early-stops on, and, for the split's held-out
  cells, the truth its predictions are scored against. ``X`` gathers the OOF truth: each cell's codes under
  the codec of the fold that holds it out.
* ``split_codecs.npz``: per split its name, fold (−1: day out), held-out cells, decoder, every cell's ρ
  under it, and the (k+1) × (k+1) map ``decoder_s · decoder_globalᵀ`` into the global code space (the
  projection onto the global basis), through which each fold model's test predictions pass before they
  are averaged.

So an OOF row lives in the code space of the fold that held its cell out; blending and scoring are row-wise
and need nothing more, and decoding uses that fold's decoder. Exact targets (``method="none"``) need none
of this: the files then say ``none`` and hold no codes, and readers use the global codes (ρ = 1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from msci.io.artifacts import write_npz
from msci.io.matrix import MatrixFile, MatrixWriter
from msci.target_codes import TargetCodec, encode_chunks, encode_targets, fit_codec, load_codec

log = logging.getLogger(__name__)
DAY_OUT = "day_out"


@dataclass(frozen=True)
class TargetFiles:
    """The training targets as models see them: global codes and codec, and codes and codecs per CV split."""

    codes: str
    codec: str
    split_codes: str
    split_codecs: str


@dataclass(frozen=True)
class Splits:
    """The CV splits: names (``fold_<k>``, ``day_out``), folds (−1: day out) and held-out cells (splits × cells)."""

    names: list[str]
    fold: np.ndarray
    held_out: np.ndarray

    def train_rows(self, s: int) -> np.ndarray:
        """The mask of split ``s``'s training cells."""
        return ~self.held_out[s]


def split_name(split: int | str) -> str:
    """A split's name: ``fold_<k>`` for fold ``k``, else the name given (``day_out``)."""
    return f"fold_{int(split)}" if isinstance(split, int | np.integer) else str(split)


def cv_splits(fold: np.ndarray, day_out: np.ndarray) -> Splits:
    """Every fold's split, then the day-out split where cells are marked day out."""
    fold, day_out = np.asarray(fold), np.asarray(day_out, bool)
    if (fold < 0).any():
        raise ValueError(f"{int((fold < 0).sum())} training cells are in no fold")
    ks = [int(k) for k in np.unique(fold)]
    names, folds, held = [split_name(k) for k in ks], ks, [fold == k for k in ks]
    if day_out.any():
        names, folds, held = names + [DAY_OUT], folds + [-1], held + [day_out]
    return Splits(names, np.array(folds, dtype=np.int64), np.array(held, dtype=bool).reshape(len(names), len(fold)))


def fold_table(folds_path: str, cells: np.ndarray) -> pd.DataFrame:
    """The folds table's rows of the training ``cells``, in their order (``day_out`` false where it has none)."""
    folds = pd.read_parquet(folds_path)
    pos = folds.index.get_indexer(cells)
    if (pos < 0).any():
        raise ValueError(f"{folds_path}: {(pos < 0).sum()} training cells have no fold")
    table = folds.iloc[pos]
    return table if "day_out" in table else table.assign(day_out=False)


def table_splits(table: pd.DataFrame) -> Splits:
    """The CV splits of a :func:`fold_table`."""
    return cv_splits(table["fold"].to_numpy(), table["day_out"].to_numpy(bool))


def shared_components(n_components: int, splits: Splits) -> int:
    """Codes per cell that every split's codec can have: ``n_components``, capped by the smallest training set."""
    smallest = int((~splits.held_out).sum(axis=1).min()) if len(splits.names) else n_components + 1
    if smallest - 1 < n_components:
        log.info("target SVD: %d components, the most that the smallest CV split's %d training cells allow",
                 smallest - 1, smallest)
    return min(n_components, smallest - 1)


def encode_split_targets(targets_path: str, folds_path: str, files: TargetFiles, *, method: str, chunk_rows: int,
                         n_components: int | None, n_iter: int | None, seed: int | None) -> dict:
    """Fit the global codec and one codec per CV split on its training cells; write the four :class:`TargetFiles`.

    ``n_components``, ``n_iter``, ``seed``: the SVD's settings (``None`` for exact targets, ``method="none"``).

    Memory: one chunk of targets plus ``n_cells × (k + 1)`` floats per output and the splits' decoders. Time:
    one codec fit (``2 + 2·n_iter`` passes over the targets, then one to encode) per split, plus the global one.
    """
    targets = MatrixFile(targets_path)
    splits = table_splits(fold_table(folds_path, targets.obs_names))
    if method == "svd":
        n_components = shared_components(n_components, splits)
    summary = encode_targets(targets_path, files.codes, files.codec, method=method, n_components=n_components,
                             n_iter=n_iter, chunk_rows=chunk_rows, seed=seed)
    codec = load_codec(files.codec)[0]
    if codec.decoder is None:
        write_exact_splits(files, targets, splits, codec)
        return {**summary, "splits": splits.names}
    settings = {"method": method, "n_components": n_components, "n_iter": n_iter, "chunk_rows": chunk_rows,
                "seed": seed}
    return {**summary, **write_split_codecs(files, targets, splits, codec, settings)}


def write_exact_splits(files: TargetFiles, targets: MatrixFile, splits: Splits, codec: TargetCodec) -> None:
    """The split files of exact targets: no codes (every split's codes are the global codes, ρ = 1)."""
    with MatrixWriter(files.split_codes, codec.code_names, uns={"codes": "none: the global codes"}):
        pass
    _save_splits(files.split_codecs, "none", splits, targets.obs_names)


def write_split_codecs(files: TargetFiles, targets: MatrixFile, splits: Splits, codec: TargetCodec,
                       settings: dict) -> dict:
    """Fit each split's codec on its training cells and write every cell's codes under it, and the OOF truth."""
    n, c = targets.n_rows, codec.n_codes
    truth = np.zeros((n, c), np.float32)
    rho = np.zeros((len(splits.names), n), np.float32)
    decoders = np.zeros((len(splits.names), c, targets.shape[1]), np.float32)
    uns = {"codes": "X: each cell under the codec of the fold holding it out; layers: every cell under each split's"}
    with MatrixWriter(files.split_codes, codec.code_names, uns=uns) as w:
        for s, name in enumerate(splits.names):
            split_codec = fit_codec(targets, rows=splits.train_rows(s), **settings)
            for start, stop, codes, r in encode_chunks(targets, split_codec, settings["chunk_rows"]):
                w.append_layer(name, codes)
                rho[s, start:stop] = r
                if splits.fold[s] >= 0:
                    held = splits.held_out[s, start:stop]
                    truth[start:stop][held] = codes[held]
            decoders[s] = split_codec.decoder
            log.info("split %s: codec fit on %d training cells, mean ρ of its %d held-out cells %.4f", name,
                     splits.train_rows(s).sum(), splits.held_out[s].sum(), rho[s, splits.held_out[s]].mean())
        w.append(truth, targets.obs_names)
    maps = np.einsum("scg,dg->scd", decoders, codec.decoder, dtype=np.float64).astype(np.float32)
    _save_splits(files.split_codecs, "svd", splits, targets.obs_names, rho=rho, maps=maps, decoders=decoders)
    held_rho = rho[_held_out_split(splits), np.arange(n)]
    return {"splits": splits.names, "mean_rho_held_out": float(held_rho.mean())}


def _save_splits(path: str, method: str, splits: Splits, cells: np.ndarray, **arrays: np.ndarray) -> None:
    write_npz(path, method=np.array(method), names=np.array(splits.names, dtype=str), fold=splits.fold,
              held_out=splits.held_out, cells=np.asarray(cells, dtype=str), **arrays)


def _held_out_split(splits: Splits) -> np.ndarray:
    """Per cell, the index of the fold split that holds it out."""
    is_fold = splits.fold >= 0
    return np.flatnonzero(is_fold)[np.argmax(splits.held_out[is_fold], axis=0)]


@dataclass
class SplitCodes:
    """The training cells' codes per CV split, read one split at a time (see the module docstring)."""

    files: TargetFiles
    method: str
    splits: Splits
    cells: np.ndarray
    rho: np.ndarray | None = None
    maps: np.ndarray | None = None
    _cache: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def exact(self) -> bool:
        """Whether every split's codes are the global ones (exact targets)."""
        return self.method == "none"

    def index(self, split: int | str) -> int:
        """Position of a split, given as a fold number or a name."""
        name = split_name(split)
        if name not in self.splits.names:
            raise ValueError(f"{self.files.split_codecs}: no CV split {name} (splits: {', '.join(self.splits.names)})")
        return self.splits.names.index(name)

    def codes(self, split: int | str) -> tuple[np.ndarray, np.ndarray]:
        """Every training cell's codes (cells × codes) and ρ under the split's codec."""
        if self.exact:
            return self._global_codes()
        s = self.index(split)
        layer = MatrixFile(self.files.split_codes, layer=self.splits.names[s])
        return np.asarray(layer.read(), dtype=np.float32), self.rho[s].astype(np.float64)

    def to_global(self, split: int | str, pred: np.ndarray) -> np.ndarray:
        """Predictions in the split's code space mapped into the global one (projected onto the global basis)."""
        return pred if self.exact else np.asarray(pred, np.float32) @ self.maps[self.index(split)]

    def truth(self) -> tuple[MatrixFile, np.ndarray]:
        """The OOF truth: each training cell's codes (a file) and ρ under the codec of the fold holding it out."""
        if self.exact:
            return MatrixFile(self.files.codes), load_codec(self.files.codec)[2]
        held_rho = self.rho[_held_out_split(self.splits), np.arange(len(self.cells))]
        return MatrixFile(self.files.split_codes), held_rho.astype(np.float64)

    def day_out_truth(self) -> tuple[MatrixFile, np.ndarray]:
        """Every training cell's codes (a file: read the day-out cells' rows) and ρ under the day-out codec."""
        if self.exact or DAY_OUT not in self.splits.names:
            return self.truth()
        s = self.index(DAY_OUT)
        return MatrixFile(self.files.split_codes, layer=DAY_OUT), self.rho[s].astype(np.float64)

    def decode_held_out(self, start: int, stop: int, codes: np.ndarray) -> np.ndarray:
        """Gene values of OOF rows ``start:stop``, each decoded by the codec of the fold that held its cell out."""
        if self.exact:
            return np.asarray(codes, dtype=np.float32)
        if "decoders" not in self._cache:
            with np.load(self.files.split_codecs, allow_pickle=False) as z:
                self._cache["decoders"] = z["decoders"]
        decoders = self._cache["decoders"]
        which = _held_out_split(self.splits)[start:stop]
        out = np.zeros((stop - start, decoders.shape[2]), np.float32)
        for s in np.unique(which):
            out[which == s] = np.asarray(codes, np.float32)[which == s] @ decoders[s]
        return out

    def check_splits(self, splits: Splits, folds_path: str) -> None:
        """Refuse split codes made for other CV splits than the folds table's."""
        if splits.names != self.splits.names or not np.array_equal(splits.held_out, self.splits.held_out):
            raise ValueError(f"{self.files.split_codecs}: CV splits differ from {folds_path}'s "
                             f"({', '.join(self.splits.names)} vs {', '.join(splits.names)}); rerun encode_targets")

    def _global_codes(self) -> tuple[np.ndarray, np.ndarray]:
        """The global codes and ρ, read once (exact targets: the same for every split)."""
        if "codes" not in self._cache:
            self._cache["codes"] = np.asarray(MatrixFile(self.files.codes).read(), dtype=np.float32)
            self._cache["rho"] = load_codec(self.files.codec)[2]
        return self._cache["codes"], self._cache["rho"]


def load_split_codes(files: TargetFiles) -> SplitCodes:
    """The split codes and codecs of :func:`encode_split_targets` (decoders stay on disk until decoding)."""
    with np.load(files.split_codecs, allow_pickle=False) as z:
        splits = Splits([str(x) for x in z["names"]], z["fold"], z["held_out"])
        method, cells = str(z["method"]), z["cells"].astype(object)
        rho, maps = (z["rho"], z["maps"]) if method != "none" else (None, None)
    codes_cells = MatrixFile(files.codes).obs_names
    if list(cells) != list(codes_cells):
        raise ValueError(f"{files.split_codecs}: cells differ from {files.codes}")
    return SplitCodes(files, method, splits, cells, rho, maps)
