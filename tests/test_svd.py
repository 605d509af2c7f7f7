import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA

from msci.chunked_svd import ChunkedTruncatedSVD
from msci.features.svd import svd_features
from msci.io.matrix import MatrixFile, write_matrix


def _low_rank(n=400, p=120, rank=5, noise=1e-3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, rank)) @ rng.normal(size=(rank, p)) + noise * rng.normal(size=(n, p))


def test_svd_recovers_a_known_low_rank_structure():
    X = _low_rank()
    z = ChunkedTruncatedSVD(5, chunk_rows=37).fit_transform(X)
    # The 5 components span the data: reconstructing from them leaves only the noise.
    svd = ChunkedTruncatedSVD(5, chunk_rows=37).fit(X)
    resid = X - z @ svd.components_
    assert np.linalg.norm(resid) / np.linalg.norm(X) < 1e-3


def test_centred_svd_equals_pca_and_chunking_does_not_matter():
    X = _low_rank(noise=0.05) + 4.0
    ref = PCA(5, svd_solver="full").fit(X)
    a = ChunkedTruncatedSVD(5, center=True, chunk_rows=29)
    za = a.fit_transform(X)
    zb = ChunkedTruncatedSVD(5, center=True, chunk_rows=400).fit_transform(X)
    np.testing.assert_allclose(a.singular_values_, ref.singular_values_, rtol=1e-6)
    np.testing.assert_allclose(np.abs(za), np.abs(ref.transform(X)), atol=1e-6)
    np.testing.assert_allclose(za, zb, atol=1e-8)
    np.testing.assert_allclose(a.transform(X), za, atol=1e-8)


def test_svd_of_a_sparse_matrix_on_disk_equals_in_memory(tmp_path):
    X = sp.random(300, 80, density=0.1, format="csr", random_state=1, dtype=np.float32)
    write_matrix(tmp_path / "x.h5ad", X, [f"c{i}" for i in range(300)], [f"p{j}" for j in range(80)])
    disk = ChunkedTruncatedSVD(8, chunk_rows=64).fit_transform(MatrixFile(tmp_path / "x.h5ad"))
    mem = ChunkedTruncatedSVD(8, chunk_rows=64).fit_transform(X.toarray())
    np.testing.assert_allclose(disk, mem, atol=1e-5)
    table = svd_features(str(tmp_path / "x.h5ad"), str(tmp_path / "svd.parquet"), n_components=8, chunk_rows=64)
    assert table.shape == (300, 8) and table.index[0] == "c0" and table.columns[0] == "svd_0"


def test_svd_fit_on_training_rows_projects_every_row(tmp_path):
    rng = np.random.default_rng(3)
    X = (rng.normal(size=(200, 3)) @ rng.normal(size=(3, 40))).astype(np.float32)
    write_matrix(tmp_path / "x.h5ad", X, [f"c{i}" for i in range(200)], [f"g{j}" for j in range(40)])
    mask = np.arange(200) < 150
    table = svd_features(str(tmp_path / "x.h5ad"), str(tmp_path / "s.parquet"), n_components=3, chunk_rows=32,
                         fit_mask=mask)
    ref = ChunkedTruncatedSVD(3).fit(X[mask])
    np.testing.assert_allclose(table.to_numpy(), ref.transform(X), rtol=1e-4, atol=1e-4)
