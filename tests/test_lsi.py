import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from msci.features.lsi import lsi_features
from msci.io.matrix import write_matrix
from msci.normalize import TfIdf


def _atac(n=300, peaks=400, seed=0):
    """TF-IDF of sparse counts from two cell groups, with sequencing depth varying tenfold between cells."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, n)
    profile = rng.gamma(0.3, size=(2, peaks))
    depth = rng.uniform(0.2, 2.0, n)
    counts = sp.csr_matrix(rng.poisson(profile[group] * depth[:, None]).astype(np.float32))
    tfidf = TfIdf().partial_fit(counts)
    return tfidf.transform(counts), group


def test_lsi_matches_muon_style_lsi_and_drops_a_depth_tracking_first_component(tmp_path):
    X, group = _atac()
    ids, peaks = [f"c{i}" for i in range(X.shape[0])], [f"chr1:{i}-{i + 1}" for i in range(X.shape[1])]
    write_matrix(tmp_path / "x.h5ad", X, ids, peaks)
    df, metrics = lsi_features(str(tmp_path / "x.h5ad"), str(tmp_path / "lsi.parquet"), str(tmp_path / "m.json"),
                               n_components=4, depth_threshold=0.5, n_iter=6, chunk_rows=64, seed=0)
    totals = np.asarray(X.sum(axis=1)).ravel()
    # muon's atac.tl.lsi: TruncatedSVD of the TF-IDF matrix, each component scaled to mean 0, sd 1.
    ref = TruncatedSVD(5, algorithm="arpack").fit_transform(X)
    ref = (ref - ref.mean(0)) / ref.std(0)
    assert abs(np.corrcoef(ref[:, 0], totals)[0, 1]) > 0.5 and metrics["first_component_dropped"]
    assert np.isclose(abs(metrics["depth_correlation"][0]), abs(np.corrcoef(ref[:, 0], totals)[0, 1]), atol=0.01)
    assert list(df.columns) == ["lsi_0", "lsi_1", "lsi_2", "lsi_3"] and list(df.index) == ids
    z = df.to_numpy()
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)
    # The kept components are muon's components 2..5 (up to sign); the groups separate on them.
    assert abs(np.corrcoef(z[:, 0], ref[:, 1])[0, 1]) > 0.99
    assert abs(np.corrcoef(z[:, 0], group)[0, 1]) > 0.9
    _, kept = lsi_features(str(tmp_path / "x.h5ad"), str(tmp_path / "b.parquet"), n_components=4, depth_threshold=1.0,
                           n_iter=4, chunk_rows=4096, seed=0)
    assert not kept["first_component_dropped"]
