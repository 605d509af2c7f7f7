import h5py
import numpy as np
import pandas as pd
import pytest

from msci.io.checks import InputError
from msci.io.competition import FrameWriter, frame_info, iter_rows, read_rows, write_frame


def _frame(n=37, p=11, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(rng.normal(size=(n, p)).astype(np.float32), index=[f"c{i}" for i in range(n)],
                        columns=[f"g{j}" for j in range(p)])


def test_row_chunks_reassemble_the_frame(tmp_path):
    df = _frame()
    write_frame(df, tmp_path / "train_cite_inputs.h5")
    info = frame_info(tmp_path / "train_cite_inputs.h5")
    assert info.key == "train_cite_inputs" and info.shape == df.shape
    got = np.concatenate([b for _, _, b in iter_rows(info, 8)])
    np.testing.assert_array_equal(got, df.to_numpy())
    np.testing.assert_array_equal(read_rows(info, 5, 9), df.iloc[5:9].to_numpy())


def test_multi_block_frame_is_read_in_axis0_column_order(tmp_path):
    df = _frame(20, 6)
    df["g2"] = df["g2"].astype(np.float64)  # a second dtype makes pandas write two blocks
    df.to_hdf(tmp_path / "x.h5", key="x", format="fixed")
    with h5py.File(tmp_path / "x.h5") as f:
        assert int(f["x"].attrs["nblocks"]) == 2
    info = frame_info(tmp_path / "x.h5")
    np.testing.assert_allclose(read_rows(info, 3, 17), df.iloc[3:17].to_numpy(np.float32))


def test_blosc_compressed_frame_is_read_by_slices(tmp_path):
    df = _frame(25, 5)
    df.to_hdf(tmp_path / "z.h5", key="z", format="fixed", complib="blosc", complevel=5)
    info = frame_info(tmp_path / "z.h5")
    np.testing.assert_array_equal(read_rows(info, 10, 20), df.iloc[10:20].to_numpy())


@pytest.mark.parametrize("content, problem", [
    (b"", "file is empty"),
    (b"not hdf5 at all", "not a readable HDF5 file"),
])
def test_unreadable_file_names_the_file(tmp_path, content, problem):
    path = tmp_path / "train_cite_inputs.h5"
    path.write_bytes(content)
    with pytest.raises(InputError, match=problem) as e:
        frame_info(path)
    assert str(path) in str(e.value)


def test_hdf5_without_a_frame_is_rejected(tmp_path):
    with h5py.File(tmp_path / "a.h5", "w") as f:
        f.create_group("a").create_dataset("values", data=np.zeros((2, 2)))
    with pytest.raises(InputError, match="not a pandas fixed-format frame"):
        frame_info(tmp_path / "a.h5")


def test_frame_written_by_row_chunks_reads_back_with_pandas_and_our_reader(tmp_path):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.random((230, 17), dtype=np.float32), index=[f"c{i}" for i in range(230)],
                      columns=[f"chr1:{i}-{i + 5}" for i in range(17)])
    path = tmp_path / "train_multi_inputs.h5"
    with FrameWriter(path, df.index, df.columns) as w:
        for s in range(0, 230, 64):
            w.append(df.to_numpy()[s: s + 64])
    back = pd.read_hdf(path)
    np.testing.assert_array_equal(back.to_numpy(), df.to_numpy())
    assert list(back.index) == list(df.index) and list(back.columns) == list(df.columns)
    info = frame_info(path)
    np.testing.assert_array_equal(read_rows(info, 100, 130), df.to_numpy()[100:130])
    with pytest.raises(ValueError, match="10 of 230 rows written"), FrameWriter(tmp_path / "x.h5", df.index,
                                                                                 df.columns) as w:
        w.append(df.to_numpy()[:10])
    assert not list(tmp_path.glob("*x.h5*"))
