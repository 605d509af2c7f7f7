"""The full-size benchmark's writer (bench/full_size.py) produces files the workflow accepts."""

import importlib.util
from pathlib import Path

import pandas as pd

from msci.io.competition import input_files
from msci.preflight import check_inputs

REPO = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("full_size_bench", REPO / "bench" / "full_size.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_full_width_competition_files_pass_the_input_checks(tmp_path):
    bench = _bench()
    sizes = {"cite": (30, 20), "multi": (12, 8)}
    tables = bench.cell_tables(sizes, seed=1)
    for m in sizes:
        bench.write_modality(tmp_path, m, tables[m], bench.FULL[m][2], bench.FULL[m][3], seed=1)
    bench.write_tables(tmp_path, tables, {m: bench.FULL[m][2:] for m in sizes}, seed=1)

    files = {m: {k: str(tmp_path / f) for k, f in input_files(m).items()} for m in sizes}
    summary = check_inputs(files, str(tmp_path / "metadata.csv"), str(tmp_path / "evaluation_ids.csv"),
                           str(tmp_path / "sample_submission.csv"))
    assert summary["multi"] == {"train_cells": 12, "test_cells": 8, "inputs": 228_942, "targets": 23_418}
    assert summary["cite"] == {"train_cells": 30, "test_cells": 20, "inputs": 22_050, "targets": 140}
    assert summary["evaluation_rows"] == {"cite": 20 * 140, "multi": 8 * bench.MULTI_EVAL_GENES, "other": 0}
    assert summary["sample_submission_rows"] == 20 * 140 + 8 * bench.MULTI_EVAL_GENES
    peaks = pd.read_hdf(tmp_path / "test_multi_inputs.h5")
    density = (peaks.to_numpy() > 0).mean()
    assert 0.5 * bench.DENSITY["multi"] < density < 2 * bench.DENSITY["multi"]
    assert peaks.columns.is_unique


def test_cell_tables_are_the_same_in_every_writer_process():
    bench = _bench()
    a, b = bench.cell_tables({"cite": (50, 20), "multi": (40, 10)}, 3), bench.cell_tables(
        {"cite": (50, 20), "multi": (40, 10)}, 3)
    for m in a:
        pd.testing.assert_frame_equal(a[m], b[m])
    assert not set(a["cite"]["cell_id"]) & set(a["multi"]["cell_id"])
