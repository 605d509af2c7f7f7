"""Training targets as compact codes whose per-cell Pearson is the Pearson of the decoded genes.

The Multiome targets (105,942 cells × 23,418 genes, 9.9 GB as float32) cannot be held per fold or
per model on a workstation. ``method="svd"`` replaces them by ``k + 1`` numbers per cell:

* each cell's target row ``y`` is centred over its genes, and a truncated SVD of the centred
  matrix, fit in row chunks, gives ``k`` orthonormal gene profiles ``B`` (k × G), all orthogonal
  to the constant profile (the centred rows are);
* a cell's code is ``w = (y − ȳ) Bᵀ Q`` where ``Q`` (k × (k+1), Helmert) has orthonormal rows
  orthogonal to the ones vector, so every code has mean zero and ``|w| = |(y − ȳ) Bᵀ|``.

For any prediction ``w_p`` (k + 1 numbers), its decoded gene profile ``w_p Qᵀ B`` has
``Pearson(decode(w_p), y) = Pearson(w_p, w) · ρ``, with ``ρ = |w| / |y − ȳ|`` the share (as a norm)
of the cell's variation that the basis holds. So every model trains with the ordinary per-cell
Pearson loss on the codes, and OOF scores against the true genes are exact (multiply by the stored
``ρ``) without decoding a single gene. Per-cell row standardisation, blending and the metric all
commute with decoding. Genes are decoded only where gene values are needed (the submission, the
per-target report), block by block.

``method="none"`` keeps the exact per-gene targets (codes are the targets, ``ρ = 1``): the default
for CITE's 140 proteins and for small Multiome data.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from msci.chunked_svd import RowSubset, randomized_svd_by_groups
from msci.io.artifacts import write_npz
from msci.io.matrix import MatrixFile, MatrixWriter, as_dense
from msci.metrics import row_standardize

log = logging.getLogger(__name__)
METHODS = ("none", "svd")


@dataclass
class TargetCodec:
    """How codes map back to targets: ``decoder`` ((k+1) × G) or ``None`` for the identity."""

    target_names: np.ndarray
    decoder: np.ndarray | None = None
    method: str = "none"

    @property
    def n_codes(self) -> int:
        return len(self.target_names) if self.decoder is None else self.decoder.shape[0]

    @property
    def code_names(self) -> list[str]:
        if self.decoder is None:
            return [str(t) for t in self.target_names]
        return [f"code_{i}" for i in range(self.decoder.shape[0])]

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Gene values of code rows (identity for ``none``; a per-cell-centred profile for ``svd``)."""
        codes = np.asarray(codes, dtype=np.float32)
        return codes if self.decoder is None else codes @ self.decoder

    @cached_property
    def _moments(self) -> tuple[np.ndarray, np.ndarray]:
        """The decoder's per-code mean over genes and Gram matrix over genes (divided by the gene count)."""
        d = np.asarray(self.decoder, np.float64)
        return d.mean(axis=1), d @ d.T / d.shape[1]

    def standardized(self, codes: np.ndarray) -> np.ndarray:
        """Decoded code rows, each standardised over its targets (mean 0, sd 1; constant rows zero).

        For codes, each row's mean and variance over the genes come from the codes themselves (the decoder's
        per-code means and Gram matrix), so the genes are made in one product with no pass over them to
        centre and scale: ``z = (c / s) D − m / s``.
        """
        if self.decoder is None:
            return row_standardize(codes)
        c = np.asarray(codes, np.float64)
        means, gram = self._moments
        mean = c @ means
        sd = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", c, gram, c) - mean ** 2, 0.0))
        scale = np.divide(1.0, sd, out=np.zeros_like(sd), where=sd > 0)
        z = (c * scale[:, None]).astype(np.float32) @ self.decoder
        z -= (mean * scale).astype(np.float32)[:, None]
        return z

    def save(self, path: str | os.PathLike, cells: np.ndarray, rho: np.ndarray) -> None:
        """Write the codec and each training cell's ρ as ``.npz``, atomically."""
        write_npz(path, method=np.array(self.method), target_names=np.asarray(self.target_names, dtype=str),
                  decoder=self.decoder if self.decoder is not None else np.zeros((0, 0), np.float32),
                  cells=np.asarray(cells, dtype=str), rho=np.asarray(rho, dtype=np.float32))


def load_codec(path: str | os.PathLike) -> tuple[TargetCodec, np.ndarray, np.ndarray]:
    """``(codec, training cell ids, ρ per training cell)`` from a file written by :meth:`TargetCodec.save`."""
    with np.load(path, allow_pickle=False) as z:
        decoder = z["decoder"] if z["decoder"].size else None
        codec = TargetCodec(z["target_names"].astype(object), decoder, str(z["method"]))
        return codec, z["cells"].astype(object), z["rho"].astype(np.float64)


def _centred(block) -> np.ndarray:
    y = as_dense(block, np.float32)
    return y - y.mean(axis=1, keepdims=True)


def helmert(n: int) -> np.ndarray:
    """(n − 1) × n matrix with orthonormal rows orthogonal to the ones vector."""
    from scipy.linalg import helmert as _helmert

    return _helmert(n, full=False)


def fit_codec(targets: MatrixFile, *, method: str, n_components: int, n_iter: int, chunk_rows: int,
              seed: int, rows: np.ndarray | None = None) -> TargetCodec:
    """Fit the codec on the training targets (or on the rows where the mask ``rows`` is true), in row chunks.

    ``n_components`` is capped at ``min(n_cells, n_targets) − 1`` (the rank of the centred matrix).
    """
    names = targets.var_names
    if method == "none":
        return TargetCodec(names, None, "none")
    if method != "svd":
        raise ValueError(f"target compression must be one of {', '.join(METHODS)}, not {method!r}")
    source = targets if rows is None else RowSubset(targets, rows)
    n, g = source.shape
    k = min(int(n_components), n - 1, g - 1)
    if k < 1:
        raise ValueError(f"{targets.path}: too few cells or targets ({n} × {g}) for an SVD of the targets")
    if k < n_components:
        log.info("target SVD: %d components requested, %d possible for %d cells × %d targets",
                 n_components, k, n, g)
    chunks = lambda: (_centred(b) for _, _, b in source.iter_chunks(chunk_rows))  # noqa: E731
    (res,) = randomized_svd_by_groups(chunks, n, [np.arange(g)], [k], n_iter=n_iter, seed=seed)
    basis = res["components"].astype(np.float64)  # k × G, orthonormal rows ⊥ ones
    decoder = (helmert(k + 1).T @ basis).astype(np.float32)  # (k+1) × G
    return TargetCodec(names, decoder, "svd")


def encode_chunks(targets: MatrixFile, codec: TargetCodec,
                  chunk_rows: int) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
    """``(start, stop, codes, ρ)`` of every training cell under ``codec``, one row chunk at a time."""
    for start, stop, block in targets.iter_chunks(chunk_rows):
        if codec.decoder is None:
            dense = as_dense(block, np.float32)
            yield start, stop, dense, np.ones(stop - start)
            continue
        yc = _centred(block)
        codes = yc @ codec.decoder.T  # = (yc Bᵀ) Q since decoder = Qᵀ B
        norm = np.sqrt(np.einsum("ij,ij->i", yc, yc, dtype=np.float64))
        held = np.sqrt(np.einsum("ij,ij->i", codes, codes, dtype=np.float64))
        yield start, stop, codes.astype(np.float32), np.divide(held, norm, out=np.zeros_like(held), where=norm > 0)


def encode_targets(targets_path: str, out_codes: str, out_codec: str, method: str = "svd",
                   n_components: int = 256, n_iter: int = 4, chunk_rows: int = 2048, seed: int = 0) -> dict:
    """Fit the codec and write the training cells' codes (``.h5ad``) and the codec (``.npz``).

    Memory: one chunk of targets plus ``n_cells × (k + 1)`` floats; the targets are read twice
    (``2 + 2·n_iter`` times in all with the SVD's passes). Returns a summary for the log.
    """
    targets = MatrixFile(targets_path)
    codec = fit_codec(targets, method=method, n_components=n_components, n_iter=n_iter, chunk_rows=chunk_rows,
                      seed=seed)
    rho = np.ones(targets.n_rows, dtype=np.float64)
    with MatrixWriter(out_codes, codec.code_names) as w:
        for start, stop, codes, r in encode_chunks(targets, codec, chunk_rows):
            w.append(codes, targets.obs_names[start:stop])
            rho[start:stop] = r
    codec.save(out_codec, targets.obs_names, rho)
    summary = {"method": codec.method, "n_targets": len(codec.target_names), "n_codes": codec.n_codes,
               "mean_rho": float(rho.mean()), "min_rho": float(rho.min()) if len(rho) else None}
    log.info("targets encoded: %s", summary)
    return summary
