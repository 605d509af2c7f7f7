import shutil

import numpy as np
import pandas as pd
import pytest

from msci.ingest import ingest_modality
from msci.io.checks import InputError
from msci.io.competition import write_frame
from msci.io.matrix import MatrixFile


def _ingest(data, out, modality="cite", **kw):
    paths = {k: str(data / f"{s}_{modality}_{t}.h5") for k, s, t in
             (("train_inputs", "train", "inputs"), ("test_inputs", "test", "inputs"),
              ("train_targets", "train", "targets"))}
    paths.update(kw)
    return ingest_modality(modality, paths["train_inputs"], paths["test_inputs"], paths["train_targets"],
                           str(kw.get("metadata", data / "metadata.csv")), str(out / "cells.parquet"),
                           str(out / "inputs.h5ad"), str(out / "targets.h5ad"), chunk_rows=50)


@pytest.mark.parametrize("modality", ["cite", "multi"])
def test_ingest_copies_inputs_and_targets_exactly(tiny_data, tmp_path, modality):
    data, _ = tiny_data
    cells = _ingest(data, tmp_path, modality)
    tr = pd.read_hdf(data / f"train_{modality}_inputs.h5")
    te = pd.read_hdf(data / f"test_{modality}_inputs.h5")
    y = pd.read_hdf(data / f"train_{modality}_targets.h5")
    inputs = MatrixFile(tmp_path / "inputs.h5ad")
    assert inputs.sparse
    np.testing.assert_array_equal(inputs.read().toarray(), np.vstack([tr, te]))
    assert list(inputs.obs_names) == list(tr.index) + list(te.index) == list(cells.index)
    assert list(inputs.var_names) == list(tr.columns)
    targets = MatrixFile(tmp_path / "targets.h5ad")
    np.testing.assert_array_equal(targets.read(), y.to_numpy())
    assert (cells["split"] == "train").sum() == len(tr) and set(cells.columns) >= {"day", "donor", "cell_type"}
    assert pd.read_parquet(tmp_path / "cells.parquet").equals(cells)


def _broken_copy(tiny_data, tmp_path):
    data, _ = tiny_data
    bad = tmp_path / "data"
    shutil.copytree(data, bad)
    return bad


def _assert_no_artifacts(out):
    assert not any(p.suffix in (".h5ad", ".parquet") for p in out.iterdir())


def test_nan_in_inputs_names_the_file_and_leaves_no_artifact(tiny_data, tmp_path):
    bad = _broken_copy(tiny_data, tmp_path)
    df = pd.read_hdf(bad / "test_cite_inputs.h5")
    df.iloc[7, 3] = np.nan
    write_frame(df, bad / "test_cite_inputs.h5")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError, match=r"test_cite_inputs\.h5: non-finite value .* row 7"):
        _ingest(bad, out)
    _assert_no_artifacts(out)


def test_metadata_missing_a_cell_is_reported(tiny_data, tmp_path):
    bad = _broken_copy(tiny_data, tmp_path)
    meta = pd.read_csv(bad / "metadata.csv")
    meta.iloc[1:].to_csv(bad / "metadata.csv", index=False)
    with pytest.raises(InputError, match=r"metadata\.csv: 1 cell\(s\) of the inputs are missing"):
        _ingest(bad, tmp_path)


def test_test_inputs_with_other_columns_are_rejected(tiny_data, tmp_path):
    bad = _broken_copy(tiny_data, tmp_path)
    df = pd.read_hdf(bad / "test_cite_inputs.h5")
    write_frame(df.iloc[:, ::-1], bad / "test_cite_inputs.h5")
    with pytest.raises(InputError, match=r"test_cite_inputs\.h5: column names differ"):
        _ingest(bad, tmp_path)


def test_targets_in_another_order_are_kept_and_matched_by_cell_id(tiny_data, tmp_path):
    bad = _broken_copy(tiny_data, tmp_path)
    df = pd.read_hdf(bad / "train_cite_targets.h5")
    write_frame(df.iloc[::-1], bad / "train_cite_targets.h5")
    _ingest(bad, tmp_path)
    targets = MatrixFile(tmp_path / "targets.h5ad")
    got = pd.DataFrame(targets.read(), index=targets.obs_names, columns=targets.var_names)
    pd.testing.assert_frame_equal(got.loc[df.index], df, check_names=False, check_index_type=False)
