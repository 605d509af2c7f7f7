"""Check every input file before any expensive step: structure, names, metadata, evaluation ids.

Reads names and layouts only (and streams ``evaluation_ids.csv``), so it takes seconds to minutes
where training takes hours: an unknown cell in ``evaluation_ids`` stops the run here, not after
every model has trained. Values (NaN/inf) are checked while ingest copies them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from msci.io.artifacts import write_json
from msci.io.checks import InputError, require_columns, require_file, require_same_names, require_unique
from msci.io.competition import TECHNOLOGY, FrameInfo, frame_info
from msci.io.evaluation import eval_batches, indexer

log = logging.getLogger(__name__)
METADATA_COLUMNS = ("cell_id", "day", "donor", "cell_type", "technology")


def read_metadata(path: str | os.PathLike, cell_ids: np.ndarray) -> pd.DataFrame:
    """Metadata rows of ``cell_ids``, in that order: every cell covered exactly once, a known
    technology and a numeric day."""
    require_file(path)
    try:
        meta = pd.read_csv(path, dtype={"cell_id": str, "cell_type": str, "technology": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot read as CSV ({' '.join(str(e).split())})") from None
    require_columns(meta, METADATA_COLUMNS, path)
    require_unique(meta["cell_id"].to_numpy(), path, "cell_id")
    meta = meta.set_index("cell_id")
    pos = meta.index.get_indexer(cell_ids)
    missing = np.flatnonzero(pos < 0)
    if missing.size:
        raise InputError(path, f"{missing.size} cell(s) of the inputs are missing, e.g. {cell_ids[missing[0]]}")
    meta = meta.iloc[pos].reset_index()
    day = pd.to_numeric(meta["day"], errors="coerce")
    if day.isna().any():
        i = int(np.flatnonzero(day.isna())[0])
        raise InputError(path, f"day of cell {meta['cell_id'][i]} is {meta['day'][i]!r}, not a number")
    unknown = ~meta["technology"].isin(list(TECHNOLOGY.values()))
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise InputError(path, f"technology of cell {meta['cell_id'][i]} is {meta['technology'][i]!r}; "
                               f"known: {', '.join(TECHNOLOGY.values())}")
    return meta.assign(day=day.to_numpy())


def check_frames(train_inputs: str, test_inputs: str, train_targets: str) -> tuple[FrameInfo, FrameInfo, FrameInfo]:
    """One modality's three frames: readable, numeric, unique names, same input columns, targets for
    exactly the training cells (another order is allowed: cells are matched by id)."""
    tr, te, tg = frame_info(train_inputs), frame_info(test_inputs), frame_info(train_targets)
    for info in (tr, te, tg):
        require_unique(info.index, info.path, "cell ids")
        require_unique(info.columns, info.path, "column names")
    shared = np.intersect1d(tr.index.astype(str), te.index.astype(str))
    if shared.size:
        raise InputError(test_inputs, f"{shared.size} cell id(s) also in {os.path.basename(train_inputs)}, "
                                      f"e.g. {shared[0]}")
    require_same_names(tr.columns, te.columns, train_inputs, test_inputs, "column names")
    pos = pd.Index(tg.index).get_indexer(tr.index)
    if (pos < 0).any():
        missing = tr.index[pos < 0]
        raise InputError(train_targets, f"{len(missing)} training cell(s) of {os.path.basename(train_inputs)} "
                                        f"have no targets, e.g. {missing[0]}")
    if len(tg.index) != len(tr.index):
        extra = np.setdiff1d(tg.index.astype(str), tr.index.astype(str))
        raise InputError(train_targets, f"{extra.size} cell(s) are not in {os.path.basename(train_inputs)}, "
                                        f"e.g. {extra[0]}")
    if (pos != np.arange(len(pos))).any():
        log.info("%s lists the training cells in another order than %s: matched by cell id", train_targets,
                 train_inputs)
    return tr, te, tg


def _row_ids(path: str, block_rows: int = 1 << 21) -> Iterator[np.ndarray]:
    """The ``row_id`` column of a CSV, streamed."""
    require_file(path)
    try:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=block_rows * 16),
                                convert_options=pacsv.ConvertOptions(column_types={"row_id": pa.int64()},
                                                                     include_columns=["row_id"]))
        for batch in reader:
            yield batch.column(0).to_numpy()
    except (pa.ArrowInvalid, KeyError) as e:
        raise InputError(path, f"cannot read row_id ({' '.join(str(e).split())})") from None


def check_evaluation_ids(path: str, tests: Mapping[str, FrameInfo], targets: Mapping[str, np.ndarray],
                         require_all: bool, chunk_rows: int = 2_000_000) -> dict[str, int]:
    """Every row names a test cell of a configured modality and one of its targets.

    With ``require_all`` false (a one-modality run) rows of other cells are counted, not refused.
    Returns the row count per modality (and ``other``).
    """
    names = list(tests)
    cells = [pd.Index(tests[m].index) for m in names]
    genes = [pd.Index(targets[m]) for m in names]
    counts = dict.fromkeys([*names, "other"], 0)
    for batch in eval_batches(path, chunk_rows):
        row_id = batch.column("row_id").to_numpy()
        owner = np.full(len(row_id), -1)
        for i, m in enumerate(names):
            r = indexer(cells[i], batch.column("cell_id"))
            c = indexer(genes[i], batch.column("gene_id"))
            mine = r >= 0
            bad = np.flatnonzero(mine & (c < 0))
            if bad.size:
                raise InputError(path, f"row_id {row_id[bad[0]]}: {batch.column('gene_id')[int(bad[0])].as_py()!r} "
                                       f"is not a target of {m}")
            owner[mine] = i
            counts[m] += int(mine.sum())
        unknown = np.flatnonzero(owner < 0)
        counts["other"] += int(unknown.size)
        if unknown.size and require_all:
            raise InputError(path, f"row_id {row_id[unknown[0]]} names cell "
                                   f"{batch.column('cell_id')[int(unknown[0])].as_py()!r}, which is no test cell")
    return counts


def check_sample_submission(path: str, evaluation_ids: str) -> int:
    """``sample_submission.csv`` lists the same ``row_id`` in the same order as ``evaluation_ids``."""
    n = 0
    carry = np.array([], dtype=np.int64)
    theirs = _row_ids(path)
    for ours in _row_ids(evaluation_ids):
        while len(carry) < len(ours):
            nxt = next(theirs, None)
            if nxt is None:
                raise InputError(path, f"has fewer rows than {os.path.basename(evaluation_ids)} "
                                       f"(ends before row {n + len(carry)})")
            carry = np.concatenate([carry, nxt])
        diff = np.flatnonzero(carry[: len(ours)] != ours)
        if diff.size:
            raise InputError(path, f"row {n + diff[0]} has row_id {carry[diff[0]]}, "
                                   f"{os.path.basename(evaluation_ids)} has {ours[diff[0]]}")
        carry, n = carry[len(ours):], n + len(ours)
    if len(carry) or next(theirs, None) is not None:
        raise InputError(path, f"has more rows than {os.path.basename(evaluation_ids)}")
    return n


def check_inputs(files: Mapping[str, Mapping[str, str]], metadata: str, evaluation_ids: str | None,
                 sample_submission: str | None, out_path: str | None = None,
                 require_all: bool = True) -> dict:
    """Check the configured modalities' files (``files[m]``: train_inputs, test_inputs, train_targets),
    the metadata, ``evaluation_ids`` and ``sample_submission``; write a summary (JSON) if all pass."""
    summary: dict = {}
    tests, targets, all_cells = {}, {}, []
    for m, f in files.items():
        tr, te, tg = check_frames(f["train_inputs"], f["test_inputs"], f["train_targets"])
        tests[m], targets[m] = te, tg.columns
        all_cells += [tr.index, te.index]
        summary[m] = {"train_cells": len(tr.index), "test_cells": len(te.index), "inputs": len(tr.columns),
                      "targets": len(tg.columns)}
        log.info("%s: %d train + %d test cells, %d inputs, %d targets", m, len(tr.index), len(te.index),
                 len(tr.columns), len(tg.columns))
    read_metadata(metadata, np.concatenate(all_cells))
    if evaluation_ids:
        summary["evaluation_rows"] = check_evaluation_ids(evaluation_ids, tests, targets, require_all)
        log.info("evaluation ids: %s rows per modality", summary["evaluation_rows"])
        if sample_submission and os.path.exists(sample_submission):
            summary["sample_submission_rows"] = check_sample_submission(sample_submission, evaluation_ids)
    if out_path:
        write_json(summary, out_path)
    return summary
