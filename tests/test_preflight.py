"""Every kind of bad input file is refused with one line naming the file and the problem."""

import shutil

import numpy as np
import pandas as pd
import pytest

from msci.io.checks import InputError
from msci.io.competition import write_frame
from msci.preflight import check_inputs

KINDS = ("train_inputs", "test_inputs", "train_targets")


def _files(data, modalities=("cite", "multi")):
    return {m: {k: str(data / f"{k.split('_')[0]}_{m}_{k.split('_')[1]}.h5") for k in KINDS} for m in modalities}


def _check(data, modalities=("cite", "multi"), **kw):
    return check_inputs(_files(data, modalities), str(data / "metadata.csv"), str(data / "evaluation_ids.csv"),
                        str(data / "sample_submission.csv"), require_all=len(modalities) == 2, **kw)


@pytest.fixture
def data(tiny_data, tmp_path):
    src, _ = tiny_data
    dst = tmp_path / "data"
    shutil.copytree(src, dst)
    return dst


def test_good_inputs_pass_and_count_evaluation_rows(data, tmp_path):
    summary = _check(data, out_path=str(tmp_path / "ok.json"))
    ev = pd.read_csv(data / "evaluation_ids.csv")
    assert summary["evaluation_rows"]["cite"] + summary["evaluation_rows"]["multi"] == len(ev)
    assert summary["sample_submission_rows"] == len(ev) and (tmp_path / "ok.json").exists()
    one = _check(data, modalities=("cite",))
    assert one["evaluation_rows"]["other"] == summary["evaluation_rows"]["multi"]


def _frame(data, name):
    return pd.read_hdf(data / name)


def _break(data, case):  # → (file name, expected message)
    if case == "missing file":
        (data / "test_multi_inputs.h5").unlink()
        return "test_multi_inputs.h5", "file not found"
    if case == "empty file":
        (data / "train_cite_targets.h5").write_bytes(b"")
        return "train_cite_targets.h5", "file is empty"
    if case == "truncated hdf5":
        raw = (data / "train_cite_inputs.h5").read_bytes()
        (data / "train_cite_inputs.h5").write_bytes(raw[: len(raw) // 2])
        return "train_cite_inputs.h5", "truncated HDF5 file"
    if case == "not a pandas frame":
        import h5py

        with h5py.File(data / "test_cite_inputs.h5", "w") as f:
            f.create_dataset("test_cite_inputs/values", data=np.zeros((2, 2)))
        return "test_cite_inputs.h5", "not a pandas fixed-format frame"
    if case == "duplicated cell ids":
        df = _frame(data, "test_cite_inputs.h5")
        df.index = [df.index[0], *df.index[:-1]]
        write_frame(df, data / "test_cite_inputs.h5")
        return "test_cite_inputs.h5", "duplicated cell ids"
    if case == "targets missing a cell":
        write_frame(_frame(data, "train_multi_targets.h5").iloc[1:], data / "train_multi_targets.h5")
        return "train_multi_targets.h5", "1 training cell(s) of train_multi_inputs.h5 have no targets"
    if case == "non-numeric column":
        df = _frame(data, "train_cite_inputs.h5")
        df[df.columns[2]] = df[df.columns[2]].astype(str)
        write_frame(df, data / "train_cite_inputs.h5")
        return "train_cite_inputs.h5", "non-numeric column(s)"
    if case == "frames under other keys":  # one frame under another key is read (see the test below)
        df = _frame(data, "test_cite_inputs.h5")
        df.to_hdf(data / "test_cite_inputs.h5", key="a", mode="w")
        df.to_hdf(data / "test_cite_inputs.h5", key="b", mode="a")
        return "test_cite_inputs.h5", "expected one pandas frame named 'test_cite_inputs', found groups ['a', 'b']"
    if case == "targets naming extra cells":
        df = _frame(data, "train_cite_targets.h5")
        extra = df.iloc[:1].rename(index={df.index[0]: "stranger"})
        write_frame(pd.concat([df, extra]), data / "train_cite_targets.h5")
        return "train_cite_targets.h5", "1 cell(s) are not in train_cite_inputs.h5, e.g. stranger"
    if case == "train and test cells overlap":
        train, test = _frame(data, "train_multi_inputs.h5"), _frame(data, "test_multi_inputs.h5")
        test.index = [train.index[0], *test.index[1:]]
        write_frame(test, data / "test_multi_inputs.h5")
        return "test_multi_inputs.h5", f"1 cell id(s) also in train_multi_inputs.h5, e.g. {train.index[0]}"
    if case == "test columns differ":
        write_frame(_frame(data, "test_multi_inputs.h5").iloc[:, 1:], data / "test_multi_inputs.h5")
        return "test_multi_inputs.h5", "has 399 column names, train_multi_inputs.h5 has 400"
    meta = pd.read_csv(data / "metadata.csv")
    if case == "metadata without a cell":
        meta.iloc[1:].to_csv(data / "metadata.csv", index=False)
        return "metadata.csv", "1 cell(s) of the inputs are missing"
    if case == "unknown technology":
        meta.loc[3, "technology"] = "smartseq"
        meta.to_csv(data / "metadata.csv", index=False)
        return "metadata.csv", "is 'smartseq'; known: citeseq, multiome"
    if case == "non-numeric day":
        meta["day"] = meta["day"].astype(object)
        meta.loc[5, "day"] = "day two"
        meta.to_csv(data / "metadata.csv", index=False)
        return "metadata.csv", "is 'day two', not a number"
    ev = pd.read_csv(data / "evaluation_ids.csv")
    if case == "evaluation unknown cell":
        ev.loc[len(ev) - 1, "cell_id"] = "no-such-cell"
        ev.to_csv(data / "evaluation_ids.csv", index=False)
        return "evaluation_ids.csv", f"row_id {len(ev) - 1} names cell 'no-such-cell', which is no test cell"
    if case == "evaluation unknown target":
        ev.loc[0, "gene_id"] = "CD999"
        ev.to_csv(data / "evaluation_ids.csv", index=False)
        return "evaluation_ids.csv", "row_id 0: 'CD999' is not a target of cite"
    if case == "evaluation without a column":
        ev.drop(columns="gene_id").to_csv(data / "evaluation_ids.csv", index=False)
        return "evaluation_ids.csv", "missing column(s) gene_id"
    if case == "sample submission out of order":
        sample = pd.read_csv(data / "sample_submission.csv")
        sample.iloc[[3, 4]] = sample.iloc[[4, 3]].to_numpy()
        sample.to_csv(data / "sample_submission.csv", index=False)
        return "sample_submission.csv", "row 3 has row_id 4, evaluation_ids.csv has 3"
    raise AssertionError(case)


CASES = ["missing file", "empty file", "truncated hdf5", "not a pandas frame", "frames under other keys",
         "duplicated cell ids", "targets missing a cell", "targets naming extra cells",
         "train and test cells overlap", "non-numeric column", "test columns differ", "metadata without a cell",
         "unknown technology", "non-numeric day", "evaluation unknown cell", "evaluation unknown target",
         "evaluation without a column", "sample submission out of order"]


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_naming_the_file_and_the_problem(data, tmp_path, case):
    name, message = _break(data, case)
    with pytest.raises(InputError) as e:
        _check(data, out_path=str(tmp_path / "ok.json"))
    text = str(e.value)
    assert text.startswith(str(data / name) + ": ") and message in text, text
    assert "\n" not in text
    assert not (tmp_path / "ok.json").exists()


def test_a_one_modality_run_refuses_an_evaluation_cell_that_is_in_no_input_and_not_in_the_metadata(data, tmp_path):
    ev = pd.read_csv(data / "evaluation_ids.csv")
    multi_row = int(ev.index[ev["cell_id"].isin(_frame(data, "test_multi_inputs.h5").index)][0])
    ev.loc[multi_row, "cell_id"] = "no-such-cell"
    ev.to_csv(data / "evaluation_ids.csv", index=False)
    with pytest.raises(InputError) as e:
        _check(data, modalities=("cite",), out_path=str(tmp_path / "ok.json"))
    assert str(e.value) == (f"{data / 'evaluation_ids.csv'}: row_id {multi_row} names cell 'no-such-cell', "
                            f"which is in no input file and not in the metadata")
    assert not (tmp_path / "ok.json").exists()


def test_a_single_frame_under_another_key_is_read_as_the_file_s_frame(data):
    df = _frame(data, "test_cite_inputs.h5")
    df.to_hdf(data / "test_cite_inputs.h5", key="renamed", mode="w")
    assert _check(data)["cite"]["test_cells"] == len(df)
