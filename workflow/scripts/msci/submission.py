"""Map per-modality test predictions onto ``evaluation_ids`` and score a submission.

``evaluation_ids.csv`` has tens of millions of ``(row_id, cell_id, gene_id)`` rows; it is read in
chunks and each chunk is mapped with index arithmetic (``Index.get_indexer`` on cell and target
names, then one fancy-indexing gather), never a loop over rows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from msci.io.artifacts import atomic_path, write_json
from msci.io.checks import InputError, require_columns, require_file
from msci.io.competition import frame_info, read_rows
from msci.io.matrix import MatrixFile
from msci.metrics import grouped_pearson

log = logging.getLogger("msci")


class _Lookup:
    """Vectorised (cell_id, target) → value lookup into one modality's prediction matrix."""

    def __init__(self, values: np.ndarray, cells: np.ndarray, targets: np.ndarray) -> None:
        self.values = values
        self.cells = pd.Index(cells)
        self.targets = pd.Index(targets)

    def find(self, cell_ids: np.ndarray, target_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.cells.get_indexer(cell_ids), self.targets.get_indexer(target_ids)


def _eval_chunks(path: str, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """``evaluation_ids`` in chunks that never split a cell's (contiguous) rows between chunks."""
    require_file(path)
    carry = None
    try:
        reader = pd.read_csv(path, chunksize=chunk_rows, dtype={"row_id": np.int64, "cell_id": str, "gene_id": str})
        for chunk in reader:
            require_columns(chunk, ("row_id", "cell_id", "gene_id"), path)
            if carry is not None:
                chunk = pd.concat([carry, chunk], ignore_index=True)
            cells = chunk["cell_id"].to_numpy()
            other = np.flatnonzero(cells != cells[-1])
            cut = int(other[-1]) + 1 if other.size else 0
            carry = chunk.iloc[cut:]
            if cut:
                yield chunk.iloc[:cut]
    except (pd.errors.ParserError, ValueError) as e:
        raise InputError(path, f"cannot read evaluation ids ({e})") from None
    if carry is not None and len(carry):
        yield carry


def _group_standardize(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Values centred and scaled to unit standard deviation within each group (a cell's scored rows)."""
    codes, _ = pd.factorize(groups)
    n = np.bincount(codes).astype(np.float64)
    mean = np.bincount(codes, values) / n
    centred = values - mean[codes]
    sd = np.sqrt(np.bincount(codes, centred * centred) / n)
    return np.divide(centred, sd[codes], out=np.zeros_like(centred), where=sd[codes] > 0)


class _External:
    """Another ``row_id,target`` submission, read in step with ``evaluation_ids`` and checked against it."""

    def __init__(self, path: str, weight: float, chunk_rows: int) -> None:
        require_file(path)
        self.path, self.weight = path, float(weight)
        self._reader = pd.read_csv(path, chunksize=chunk_rows, dtype={"row_id": np.int64, "target": np.float64})
        self._buffer = pd.DataFrame({"row_id": np.array([], np.int64), "target": np.array([], np.float64)})

    def take(self, row_ids: np.ndarray) -> np.ndarray:
        while len(self._buffer) < len(row_ids):
            nxt = next(self._reader, None)
            if nxt is None:
                raise InputError(self.path, f"ends before evaluation_ids (needs row_id {row_ids[len(self._buffer)]})")
            require_columns(nxt, ("row_id", "target"), self.path)
            self._buffer = pd.concat([self._buffer, nxt], ignore_index=True)
        part, self._buffer = self._buffer.iloc[: len(row_ids)], self._buffer.iloc[len(row_ids):]
        bad = np.flatnonzero(part["row_id"].to_numpy() != row_ids)
        if bad.size:
            raise InputError(self.path, f"row {bad[0]} has row_id {part['row_id'].iloc[bad[0]]}, "
                                        f"evaluation_ids has {row_ids[bad[0]]} (rows must follow evaluation_ids)")
        target = part["target"].to_numpy()
        if not np.isfinite(target).all():
            bad_row = part["row_id"].to_numpy()[~np.isfinite(target)][0]
            raise InputError(self.path, f"non-finite target at row_id {bad_row}")
        return target

    def finish(self) -> None:
        if len(self._buffer) or next(self._reader, None) is not None:
            raise InputError(self.path, "has more rows than evaluation_ids")


def _map_chunk(chunk: pd.DataFrame, lookups: list[_Lookup], path: str) -> tuple[np.ndarray, np.ndarray]:
    """Values for the rows of ``chunk`` covered by some modality; mask of covered rows."""
    cells, genes = chunk["cell_id"].to_numpy(), chunk["gene_id"].to_numpy()
    out = np.full(len(chunk), np.nan, dtype=np.float32)
    covered = np.zeros(len(chunk), dtype=bool)
    for lk in lookups:
        r, c = lk.find(cells, genes)
        mine = r >= 0
        if (mine & (c < 0)).any():
            bad = np.flatnonzero(mine & (c < 0))[0]
            raise InputError(path, f"row_id {chunk['row_id'].iloc[bad]}: target {genes[bad]!r} is not predicted")
        out[mine] = lk.values[r[mine], c[mine]]
        covered |= mine
    return out, covered


def build_submission(evaluation_ids: str, predictions: Mapping[str, str], out_path: str,
                     chunk_rows: int = 2_000_000, external: Sequence[Mapping] = ()) -> int:
    """Write ``row_id,target`` for every evaluation row whose cell a modality predicts.

    Rows of cells that no given modality predicts are left out (a single-modality run). Checks
    before the file appears: at least one row, no NaN, every row of a predicted cell mapped.
    ``external`` submissions (``{path, weight}``, weight relative to our own blend's 1) join the
    blend: ours and theirs are standardised within each cell's scored rows, then averaged.
    """
    externals = [_External(e["path"], e["weight"], chunk_rows) for e in external]
    lookups = []
    for modality, path in predictions.items():
        m = MatrixFile(path)
        lookups.append(_Lookup(np.asarray(m.read(), dtype=np.float32), m.obs_names, m.var_names))
        log.info("%s: %d test cells × %d targets", modality, *m.shape)
    n_rows = 0
    with atomic_path(out_path) as tmp, open(tmp, "w") as fh:
        fh.write("row_id,target\n")
        for chunk in _eval_chunks(evaluation_ids, chunk_rows):
            values, covered = _map_chunk(chunk, lookups, evaluation_ids)
            if np.isnan(values[covered]).any():
                raise ValueError(f"{out_path}: predictions contain NaN")
            if externals:
                cells = chunk["cell_id"].to_numpy()
                blended = _group_standardize(values.astype(np.float64), cells)
                for ext in externals:
                    blended += ext.weight * _group_standardize(ext.take(chunk["row_id"].to_numpy()), cells)
                values = (blended / (1.0 + sum(e.weight for e in externals))).astype(np.float32)
            part = pd.DataFrame({"row_id": chunk["row_id"].to_numpy()[covered], "target": values[covered]})
            part.to_csv(fh, header=False, index=False, float_format="%.6g")
            n_rows += len(part)
            log.info("mapped %d evaluation rows", n_rows)
        for ext in externals:
            ext.finish()
    if n_rows == 0:
        os.remove(out_path)
        raise InputError(evaluation_ids, "no evaluation row belongs to a predicted modality")
    return n_rows


def score_submission(submission: str, evaluation_ids: str, solutions: Mapping[str, str], metadata: str,
                     out_path: str | None = None, chunk_rows: int = 2_000_000) -> dict:
    """Score like the competition: Pearson per cell over its scored rows, mean over cells.

    ``solutions`` maps modality → hidden test targets (competition-format ``.h5``). Cells on a
    day later than every training day of their technology are "private", the rest "public".
    Returns ``{modality: {public, private}, overall: {public, private}}`` (``overall`` pools cells).
    """
    lookups, owners = [], []
    for modality, path in solutions.items():
        info = frame_info(path)
        lookups.append(_Lookup(read_rows(info, 0, info.shape[0]), info.index, info.columns))
        owners.append(pd.Series(modality, index=info.index))
    modality_of = pd.concat(owners)
    sub = pd.read_csv(submission, dtype={"row_id": np.int64, "target": np.float64})
    truth, pred, cell = [], [], []
    for chunk in _eval_chunks(evaluation_ids, chunk_rows):
        values, covered = _map_chunk(chunk, lookups, evaluation_ids)
        rows = chunk["row_id"].to_numpy()[covered]
        pos = pd.Index(sub["row_id"]).get_indexer(rows)
        if (pos < 0).any():
            raise InputError(submission, f"row_id {rows[pos < 0][0]} is missing")
        truth.append(values[covered])
        pred.append(sub["target"].to_numpy()[pos])
        cell.append(chunk["cell_id"].to_numpy()[covered])
    cells, r = grouped_pearson(np.concatenate(truth), np.concatenate(pred), np.concatenate(cell))
    meta = pd.read_csv(metadata).set_index("cell_id")
    per_cell = pd.DataFrame({"r": r, "modality": modality_of.loc[cells].to_numpy()}, index=cells)
    per_cell["day"] = meta.loc[cells, "day"].to_numpy()
    train_max = meta[meta["cell_type"] != "hidden"].groupby("technology")["day"].max()
    tech = meta.loc[cells, "technology"].to_numpy()
    per_cell["board"] = np.where(per_cell["day"].to_numpy() > train_max.reindex(tech).to_numpy(), "private", "public")
    result: dict = {}
    for modality, grp in per_cell.groupby("modality"):
        result[modality] = {b: float(g["r"].mean()) for b, g in grp.groupby("board")}
    result["overall"] = {b: float(g["r"].mean()) for b, g in per_cell.groupby("board")}
    if out_path:
        write_json(result, out_path)
    return result
