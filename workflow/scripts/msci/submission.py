"""Map per-modality test predictions onto ``evaluation_ids`` and score a submission.

``evaluation_ids.csv`` has tens of millions of ``(row_id, cell_id, gene_id)`` rows (65.7 M in the
competition); PyArrow streams it in blocks, reading cell and gene names as dictionaries, so each
distinct name of a block is looked up once (``Index.get_indexer``), then one fancy-indexing gather
maps the block, never a loop over rows. Predictions stored as target codes are decoded only for
the cells a block names; the file is written with PyArrow's CSV writer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from msci.io.artifacts import atomic_path, write_json
from msci.io.checks import InputError, require_columns, require_file
from msci.io.competition import frame_info, read_rows
from msci.io.evaluation import eval_batches, indexer
from msci.io.matrix import MatrixFile
from msci.metrics import grouped_pearson
from msci.target_codes import load_codec

log = logging.getLogger(__name__)


class _Lookup:
    """Vectorised (cell_id, target) → value lookup into one modality's test predictions.

    ``values`` are target codes (:mod:`msci.target_codes`); with a ``decoder`` only the cells a block
    of evaluation rows names are decoded to genes, ``cell_block`` cells at a time.
    """

    def __init__(self, values: np.ndarray, cells: np.ndarray, targets: np.ndarray,
                 decoder: np.ndarray | None = None, cell_block: int = 1024) -> None:
        self.values = values
        self.cells = pd.Index(cells)
        self.targets = pd.Index(targets)
        self.decoder = decoder
        self.cell_block = cell_block

    def find(self, cell_ids, target_ids) -> tuple[np.ndarray, np.ndarray]:
        """Row and column positions (−1: unknown) of evaluation rows, given as arrays or Arrow dictionaries."""
        return indexer(self.cells, cell_ids), indexer(self.targets, target_ids)

    def gather(self, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Values at (row ``r``, target ``c``) pairs; decodes each named cell once."""
        if self.decoder is None:
            return self.values[r, c]
        out = np.empty(len(r), dtype=np.float32)
        cells, inv = np.unique(r, return_inverse=True)
        order = np.argsort(inv, kind="stable")
        bounds = np.searchsorted(inv[order], np.arange(0, len(cells) + self.cell_block, self.cell_block))
        for b in range(len(bounds) - 1):
            sel = order[bounds[b]: bounds[b + 1]]
            if sel.size:
                lo = b * self.cell_block
                genes = self.values[cells[lo: lo + self.cell_block]] @ self.decoder
                out[sel] = genes[inv[sel] - lo, c[sel]]
        return out


def _mapped(path: str, lookups: list[_Lookup], chunk_rows: int) -> Iterator[tuple[np.ndarray, ...]]:
    """Per block of ``evaluation_ids``: ``(row_id, cell key, value, covered)`` for its rows.

    The cell key numbers the predicted cells of all modalities (−1: no modality predicts the cell).
    """
    offsets = np.cumsum([0] + [len(lk.cells) for lk in lookups])
    for batch in eval_batches(path, chunk_rows):
        row_id = batch.column("row_id").to_numpy()
        cells, genes = batch.column("cell_id"), batch.column("gene_id")
        values = np.full(len(row_id), np.nan, dtype=np.float32)
        key = np.full(len(row_id), -1, dtype=np.int64)
        for lk, off in zip(lookups, offsets, strict=False):
            r, c = lk.find(cells, genes)
            mine = r >= 0
            if (mine & (c < 0)).any():
                bad = np.flatnonzero(mine & (c < 0))[0]
                raise InputError(path, f"row_id {row_id[bad]}: target {genes[int(bad)].as_py()!r} is not predicted")
            values[mine] = lk.gather(r[mine], c[mine])
            key[mine] = r[mine] + off
        yield row_id, key, values, key >= 0


def _whole_cells(blocks: Iterator[tuple[np.ndarray, ...]]) -> Iterator[tuple[np.ndarray, ...]]:
    """Re-cut blocks so that no cell's (contiguous) rows are split between two blocks."""
    carry = None
    for block in blocks:
        if carry is not None:
            block = tuple(np.concatenate([a, b]) for a, b in zip(carry, block, strict=True))
        key = block[1]
        if key[-1] < 0:  # the block ends in rows no modality predicts: no cell is split
            cut = len(key)
        else:
            other = np.flatnonzero(key != key[-1])
            cut = int(other[-1]) + 1 if other.size else 0
        carry = tuple(a[cut:] for a in block)
        if cut:
            yield tuple(a[:cut] for a in block)
    if carry is not None and len(carry[0]):
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


def _load_lookup(path: str, codec_path: str | None) -> _Lookup:
    m = MatrixFile(path)
    values = np.asarray(m.read(), dtype=np.float32)
    if codec_path is None:
        return _Lookup(values, m.obs_names, m.var_names)
    codec, _, _ = load_codec(codec_path)
    if list(codec.code_names) != list(m.var_names):
        raise ValueError(f"{path}: its columns are not the codes of {codec_path}")
    return _Lookup(values, m.obs_names, codec.target_names, codec.decoder)


def _runs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of the runs of equal consecutive values of ``key``."""
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    return starts, np.diff(np.r_[starts, len(key)])


def _check_block(key: np.ndarray, values: np.ndarray, covered: np.ndarray, cell_names: np.ndarray,
                 seen: np.ndarray | None, out_path: str, evaluation_ids: str) -> None:
    """Refuse a block with non-finite values, a cell whose scored values are all equal, or (``seen``
    given: external submissions are standardised per cell) a cell whose rows are not contiguous."""
    v, k = values[covered], key[covered]
    if not len(v):
        return
    if not np.isfinite(v).all():
        raise ValueError(f"{out_path}: predictions contain NaN or inf (cell {cell_names[k[~np.isfinite(v)][0]]})")
    starts, lengths = _runs(k)
    lo, hi = np.minimum.reduceat(v, starts), np.maximum.reduceat(v, starts)
    flat = np.flatnonzero((lengths > 1) & (lo == hi))
    if flat.size:
        raise ValueError(f"{out_path}: cell {cell_names[k[starts[flat[0]]]]} has the same predicted value on all "
                         f"{lengths[flat[0]]} of its scored rows (no defined Pearson); nothing written")
    if seen is not None:
        run_keys = k[starts]
        again = run_keys[seen[run_keys]]
        if again.size or len(np.unique(run_keys)) < len(run_keys):
            cell = again[0] if again.size else run_keys[np.flatnonzero(
                pd.Series(run_keys).duplicated().to_numpy())[0]]
            raise InputError(evaluation_ids, f"rows of cell {cell_names[cell]} are not contiguous; external "
                                             "submissions are standardised per cell and need them together")
        seen[run_keys] = True


def build_submission(evaluation_ids: str, predictions: Mapping[str, str], out_path: str,
                     chunk_rows: int = 2_000_000, external: Sequence[Mapping] = (),
                     codecs: Mapping[str, str] | None = None, require_all: bool = True) -> int:
    """Write ``row_id,target`` for the evaluation rows of the cells the given modalities predict.

    ``predictions`` maps modality → test predictions (``.h5ad``), as target codes decoded with
    ``codecs[modality]`` (or plain target values where no codec is given). ``evaluation_ids`` is
    streamed with PyArrow in blocks of about ``chunk_rows`` rows; cell and gene names are looked up
    once per distinct name of a block, and only the cells a block names are decoded.

    ``require_all`` (every modality configured): a row no modality predicts is an error, with the
    count and an example; otherwise (a one-modality run) those rows are left out and logged.
    Before the file appears: rows in ``evaluation_ids`` order, every value finite, no cell whose
    scored values are all equal. ``external`` submissions (``{path, weight}``, weight relative to our
    own blend's 1) join the blend: ours and theirs are standardised within each cell's scored rows,
    then averaged; a cell whose rows are not contiguous is refused.
    """
    codecs = codecs or {}
    externals = [_External(e["path"], e["weight"], chunk_rows) for e in external]
    lookups = []
    for modality, path in predictions.items():
        lookups.append(_load_lookup(path, codecs.get(modality)))
        log.info("%s: %d test cells × %d predicted columns (%s)", modality, *lookups[-1].values.shape,
                 "codes, decoded per block" if lookups[-1].decoder is not None else "targets")
    cell_names = np.concatenate([np.asarray(lk.cells, dtype=object) for lk in lookups])
    seen = np.zeros(len(cell_names), bool) if externals else None
    schema = pa.schema([("row_id", pa.int64()), ("target", pa.float32())])
    n_rows = n_left = 0
    example = None
    with atomic_path(out_path) as tmp, pacsv.CSVWriter(str(tmp), schema) as writer:
        for row_id, key, values, covered in _whole_cells(_mapped(evaluation_ids, lookups, chunk_rows)):
            if not covered.all():
                n_left += int((~covered).sum())
                example = example if example is not None else int(row_id[~covered][0])
            _check_block(key, values, covered, cell_names, seen, out_path, evaluation_ids)
            if externals:
                blended = _group_standardize(values.astype(np.float64), key)
                for ext in externals:
                    blended += ext.weight * _group_standardize(ext.take(row_id), key)
                values = (blended / (1.0 + sum(e.weight for e in externals))).astype(np.float32)
            writer.write_batch(pa.record_batch([pa.array(row_id[covered]), pa.array(values[covered])], schema=schema))
            n_rows += int(covered.sum())
            log.info("mapped %d evaluation rows", n_rows)
        for ext in externals:
            ext.finish()
        if n_rows == 0:
            raise InputError(evaluation_ids, "no evaluation row belongs to a predicted modality")
        if n_left and require_all:
            raise InputError(evaluation_ids, f"{n_left} row(s) name cells that no modality predicts, "
                                             f"e.g. row_id {example}")
    if n_left:
        log.warning("one-modality run (%s): wrote %d evaluation rows, left out %d rows of other modalities",
                    ", ".join(predictions), n_rows, n_left)
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
    sub_rows = pd.Index(sub["row_id"])
    all_cells = np.concatenate([np.asarray(lk.cells) for lk in lookups])
    for row_id, key, values, covered in _mapped(evaluation_ids, lookups, chunk_rows):
        rows = row_id[covered]
        pos = sub_rows.get_indexer(rows)
        if (pos < 0).any():
            raise InputError(submission, f"row_id {rows[pos < 0][0]} is missing")
        truth.append(values[covered])
        pred.append(sub["target"].to_numpy()[pos])
        cell.append(key[covered])
    keys, r = grouped_pearson(np.concatenate(truth), np.concatenate(pred), np.concatenate(cell))
    cells = all_cells[keys]
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
