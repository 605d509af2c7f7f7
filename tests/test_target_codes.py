import numpy as np
import pytest

from msci.ensemble import blend, row_standardize
from msci.io.matrix import MatrixFile, write_matrix
from msci.metrics import row_pearson
from msci.target_codes import encode_targets, load_codec


def _low_rank_targets(n=300, g=60, rank=6, noise=0.3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, g)) + noise * rng.normal(size=(n, g))
    return (y + rng.normal(3, 1, size=(n, 1))).astype(np.float32)  # per-cell levels differ


def _encode(tmp_path, y, **kw):
    ids, genes = [f"c{i}" for i in range(len(y))], [f"g{j}" for j in range(y.shape[1])]
    write_matrix(tmp_path / "y.h5ad", y, ids, genes)
    summary = encode_targets(str(tmp_path / "y.h5ad"), str(tmp_path / "codes.h5ad"), str(tmp_path / "codec.npz"), **kw)
    codec, cells, rho = load_codec(tmp_path / "codec.npz")
    assert list(cells) == ids
    return summary, codec, np.asarray(MatrixFile(tmp_path / "codes.h5ad").read()), rho


def test_code_pearson_times_rho_is_the_exact_pearson_of_decoded_genes(tmp_path):
    y = _low_rank_targets()
    _, codec, w, rho = _encode(tmp_path, y, method="svd", n_components=8, chunk_rows=37)
    assert w.shape == (300, 9) and codec.decoder.shape == (9, 60)
    rng = np.random.default_rng(1)
    for pred in (w + rng.normal(size=w.shape), rng.normal(size=w.shape) + 5.0):  # any prediction, any offset
        exact = row_pearson(y, codec.decode(pred))
        np.testing.assert_allclose(row_pearson(w, pred) * rho, exact, atol=2e-5)
    # Codes have zero mean per cell, and with a basis as large as the signal almost all variation is kept.
    np.testing.assert_allclose(w.mean(axis=1), 0, atol=1e-4)
    assert 0.9 < rho.mean() <= 1.0 and (rho <= 1 + 1e-6).all()


def test_blending_standardised_codes_equals_blending_standardised_genes(tmp_path):
    y = _low_rank_targets(seed=3)
    _, codec, w, rho = _encode(tmp_path, y, method="svd", n_components=10)
    rng = np.random.default_rng(2)
    a, b = w + rng.normal(size=w.shape), w + 2 * rng.normal(size=w.shape)
    in_codes = row_pearson(w, blend([row_standardize(a), row_standardize(b)], [0.7, 0.3])) * rho
    in_genes = row_pearson(y, blend([row_standardize(codec.decode(a)), row_standardize(codec.decode(b))], [0.7, 0.3]))
    np.testing.assert_allclose(in_codes, in_genes, atol=2e-5)


def test_fewer_components_keep_less_of_each_cell_and_k_is_capped(tmp_path):
    y = _low_rank_targets(rank=12, noise=0.5)
    small, *_ = _encode(tmp_path, y, method="svd", n_components=2)
    large, *_ = _encode(tmp_path, y, method="svd", n_components=20)
    assert small["mean_rho"] < large["mean_rho"]
    capped, codec, w, _ = _encode(tmp_path, y[:, :5], method="svd", n_components=128)
    assert capped["n_codes"] == 5 and w.shape[1] == 5  # k = 5 − 1 components → 5 codes


def test_no_compression_keeps_the_targets_exactly(tmp_path):
    y = _low_rank_targets()
    summary, codec, w, rho = _encode(tmp_path, y, method="none")
    np.testing.assert_array_equal(w, y)
    assert codec.decoder is None and (rho == 1).all() and codec.code_names == [f"g{j}" for j in range(60)]
    np.testing.assert_array_equal(codec.decode(w), y)


def test_codes_do_not_depend_on_the_chunk_size(tmp_path):
    y = _low_rank_targets()
    _, _, w1, _ = _encode(tmp_path, y, method="svd", n_components=6, chunk_rows=300)
    _, _, w2, _ = _encode(tmp_path, y, method="svd", n_components=6, chunk_rows=23)
    np.testing.assert_allclose(w1, w2, atol=1e-3)


def test_unknown_compression_is_refused(tmp_path):
    with pytest.raises(ValueError, match="none, svd"):
        _encode(tmp_path, _low_rank_targets(), method="pca")


@pytest.mark.parametrize("method", ["svd", "none"])
def test_standardised_decoding_from_the_codes_equals_standardising_the_decoded_genes(tmp_path, method):
    y = _low_rank_targets(seed=5)
    _, codec, w, _ = _encode(tmp_path, y, method=method, **({"n_components": 8} if method == "svd" else {}))
    rng = np.random.default_rng(4)
    pred = np.r_[w + rng.normal(size=w.shape) + 2.0, np.zeros((1, w.shape[1]), np.float32)]  # offsets; a constant row
    z = codec.standardized(pred)
    np.testing.assert_allclose(z, row_standardize(codec.decode(pred)), atol=2e-5)
    assert (z[-1] == 0).all() and z.dtype == np.float32
