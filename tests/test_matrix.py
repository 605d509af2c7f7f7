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
