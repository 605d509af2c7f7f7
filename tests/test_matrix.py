import numpy as np
import pytest
import scipy.sparse as sp

from msci.io.matrix import MatrixFile, MatrixWriter, write_matrix


@pytest.mark.parametrize("sparse", [False, True])
def test_matrix_round_trips_through_chunked_writes_and_reads(tmp_path, sparse):
    rng = np.random.default_rng(0)
    X = (rng.random((53, 17)) < 0.2) * rng.normal(size=(53, 17)).astype(np.float32)
    names = [f"cell{i}" for i in range(53)]
    with MatrixWriter(tmp_path / "m.h5ad", [f"g{j}" for j in range(17)], sparse=sparse) as w:
        for s in range(0, 53, 10):
            w.append(X[s: s + 10], names[s: s + 10])
    m = MatrixFile(tmp_path / "m.h5ad")
    assert m.sparse is sparse and m.shape == (53, 17)
    assert list(m.obs_names) == names and m.var_names[3] == "g3"
    full = m.read()
    np.testing.assert_array_equal(full.toarray() if sparse else full, X)
    chunks = [b.toarray() if sparse else b for _, _, b in m.iter_chunks(7)]
    np.testing.assert_array_equal(np.concatenate(chunks), X)
    rows = np.array([40, 2, 17, 2])
    picked = m.read_rows(rows, chunk_rows=6)
    np.testing.assert_array_equal(picked.toarray() if sparse else picked, X[rows])


def test_failed_write_leaves_no_file(tmp_path):
    with pytest.raises(RuntimeError):
        with MatrixWriter(tmp_path / "m.h5ad", ["a", "b"]) as w:
            w.append(np.ones((2, 2)), ["x", "y"])
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_sparse_input_stays_sparse(tmp_path):
    X = sp.random(30, 8, density=0.1, format="csr", random_state=0, dtype=np.float32)
    write_matrix(tmp_path / "s.h5ad", X, [str(i) for i in range(30)], list("abcdefgh"))
    m = MatrixFile(tmp_path / "s.h5ad")
    assert m.sparse and (m.read() != X).nnz == 0


@pytest.mark.parametrize("sparse", [False, True])
def test_written_matrix_opens_in_anndata_with_obs_columns_and_uns(tmp_path, sparse):
    import anndata as ad
    import pandas as pd

    X = sp.random(12, 5, density=0.4, format="csr", random_state=1, dtype=np.float32)
    with MatrixWriter(tmp_path / "a.h5ad", list("vwxyz"), sparse=sparse, uns={"weights": {"ridge": 0.25}}) as w:
        w.append(X[:7], [f"c{i}" for i in range(7)])
        w.append(X[7:], [f"c{i}" for i in range(7, 12)])
        w.set_obs(pd.DataFrame({"cell_type": ["T"] * 6 + ["B"] * 6}))
    a = ad.read_h5ad(tmp_path / "a.h5ad")
    assert a.shape == (12, 5) and list(a.var_names) == list("vwxyz") and a.obs_names[8] == "c8"
    assert list(a.obs["cell_type"])[-1] == "B" and a.uns["weights"]["ridge"] == 0.25
    np.testing.assert_array_equal(a.X.toarray() if sparse else a.X, X.toarray())
    backed = ad.read_h5ad(tmp_path / "a.h5ad", backed="r")
    got = backed.X[3:9]
    np.testing.assert_array_equal(got.toarray() if sparse else got, X[3:9].toarray())


def test_csc_matrices_of_other_tools_read_by_rows(tmp_path):
    import anndata as ad

    X = sp.random(20, 6, density=0.3, format="csc", random_state=2, dtype=np.float32)
    ad.AnnData(X).write_h5ad(tmp_path / "csc.h5ad")
    m = MatrixFile(tmp_path / "csc.h5ad")
    np.testing.assert_array_equal(m.read(4, 11).toarray(), X.toarray()[4:11])


@pytest.mark.parametrize("sparse", [False, True])
def test_read_rows_reads_rows_in_any_order_with_repeats(tmp_path, sparse):
    X = sp.random(25, 4, density=0.5, format="csr", random_state=3, dtype=np.float32)
    write_matrix(tmp_path / "t.h5ad", X if sparse else X.toarray(), [str(i) for i in range(25)], list("abcd"))
    rows = np.array([19, 3, 3, 0, 24])
    got = MatrixFile(tmp_path / "t.h5ad").read_rows(rows, chunk_rows=4)
    np.testing.assert_array_equal(got.toarray() if sparse else got, X.toarray()[rows])


def test_layers_are_written_in_blocks_beside_x_and_read_like_x(tmp_path):
    import anndata as ad

    rng = np.random.default_rng(2)
    X, L = rng.normal(size=(11, 4)).astype(np.float32), rng.normal(size=(11, 4)).astype(np.float32)
    names = [f"c{i}" for i in range(11)]
    with MatrixWriter(tmp_path / "l.h5ad", list("abcd")) as w:
        for s in range(0, 11, 4):
            w.append_layer("fold_0", L[s: s + 4])
        w.append(X, names)
    layer = MatrixFile(tmp_path / "l.h5ad", layer="fold_0")
    assert layer.shape == (11, 4) and list(layer.obs_names) == names
    np.testing.assert_array_equal(layer.read_rows(np.array([9, 1])), L[[9, 1]])
    np.testing.assert_array_equal(MatrixFile(tmp_path / "l.h5ad").read(), X)
    np.testing.assert_array_equal(ad.read_h5ad(tmp_path / "l.h5ad").layers["fold_0"], L)
    with pytest.raises(ValueError, match="no layers/fold_1"):
        MatrixFile(tmp_path / "l.h5ad", layer="fold_1")
    with pytest.raises(ValueError, match="layer fold_0 has 3 rows, X 11"):
        with MatrixWriter(tmp_path / "bad.h5ad", list("abcd")) as w:
            w.append_layer("fold_0", L[:3])
            w.append(X, names)
    assert not (tmp_path / "bad.h5ad").exists()
