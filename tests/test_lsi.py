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


def test_bm25_weights_binarised_peaks_by_idf_damped_by_each_cells_open_peaks():
    from msci.features.lsi import Bm25

    X = sp.csr_matrix(np.array([[2.0, 0, 1, 0], [0, 0, 3, 0], [0.5, 1, 1, 1]], np.float32))
    w = Bm25(k1=1.2, b=0.75).fit(_Chunks(X))
    df, n, open_peaks = np.array([2, 1, 3, 1]), 3, np.array([2, 1, 4])
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    row = 2.2 / (1 + 1.2 * (0.25 + 0.75 * open_peaks / open_peaks.mean()))
    expected = (X.toarray() > 0) * row[:, None] * idf[None, :]
    np.testing.assert_allclose(w.transform(X).toarray(), expected, rtol=1e-5)
    assert w.idf_[2] < w.idf_[1]  # a peak open in every cell weighs least


def test_bm25_lsi_fit_on_training_rows_applies_to_new_cells_as_in_the_table(tmp_path):
    from msci.io.fitted import load_sklearn

    X, group = _atac()
    ids, peaks = [f"c{i}" for i in range(X.shape[0])], [f"chr1:{i}-{i + 1}" for i in range(X.shape[1])]
    write_matrix(tmp_path / "x.h5ad", X, ids, peaks)
    fit = np.arange(X.shape[0]) < 200
    df, _ = lsi_features(str(tmp_path / "x.h5ad"), str(tmp_path / "b.parquet"), n_components=3, depth_threshold=0.5,
                         n_iter=4, chunk_rows=64, seed=0, fit_mask=fit, bm25={"k1": 1.2, "b": 0.75}, prefix="bm25",
                         out_fitted=str(tmp_path / "b.skops"))
    assert list(df.columns) == ["bm25_0", "bm25_1", "bm25_2"]
    assert abs(np.corrcoef(df["bm25_0"], group)[0, 1]) > 0.9  # the groups separate on BM25 as on TF-IDF
    again = load_sklearn(tmp_path / "b.skops").transform(X[200:])
    np.testing.assert_allclose(again, df.to_numpy()[200:], atol=1e-5)


class _Chunks:
    """A sparse matrix read in row chunks of two, as a MatrixFile is."""

    def __init__(self, X):
        self.X, self.shape = X, X.shape

    def iter_chunks(self, chunk_rows=2):
        for s in range(0, self.X.shape[0], 2):
            yield s, min(s + 2, self.X.shape[0]), self.X[s:s + 2]
