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

from msci.ingest import check_frames, read_metadata
from msci.io.artifacts import write_json
from msci.io.checks import InputError, require_file
from msci.io.competition import FrameInfo
from msci.io.evaluation import eval_batches, indexer

log = logging.getLogger(__name__)
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
                         require_all: bool, metadata_cells: pd.Index, chunk_rows: int = 2_000_000) -> dict[str, int]:
    """Every row names a test cell of a configured modality and one of its targets.

    With ``require_all`` false (a one-modality run) rows of the other modality's cells are counted, not
    refused; a cell that is in no input and not in the metadata (``metadata_cells``) is refused all the same.
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
        if unknown.size:
            stranger = unknown[indexer(metadata_cells, batch.column("cell_id").take(unknown)) < 0]
            if stranger.size:
                raise InputError(path, f"row_id {row_id[stranger[0]]} names cell "
                                       f"{batch.column('cell_id')[int(stranger[0])].as_py()!r}, which is in no "
                                       f"input file and not in the metadata")
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
                 require_all: bool = True, summary_of: str | None = None) -> dict:
    """Check the configured modalities' files (``files[m]``: train_inputs, test_inputs, train_targets),
    the metadata, ``evaluation_ids`` and ``sample_submission``; write a summary (JSON) if all pass.

    ``summary_of``: write only that modality's part (its shapes and evaluation rows), so the file, and
    what depends on it, stays the same when only another modality's files change.
    """
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
        metadata_cells = pd.Index(pd.read_csv(metadata, usecols=["cell_id"], dtype=str)["cell_id"])
        summary["evaluation_rows"] = check_evaluation_ids(evaluation_ids, tests, targets, require_all,
                                                          metadata_cells)
        log.info("evaluation ids: %s rows per modality", summary["evaluation_rows"])
        if sample_submission and os.path.exists(sample_submission):
            summary["sample_submission_rows"] = check_sample_submission(sample_submission, evaluation_ids)
    if summary_of is not None:
        rows = summary.get("evaluation_rows", {})
        summary = {summary_of: {**summary[summary_of], "evaluation_rows": rows.get(summary_of)}}
    if out_path:
        write_json(summary, out_path)
    return summary
