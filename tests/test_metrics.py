import numpy as np

from msci.metrics import grouped_pearson, mean_row_pearson, row_pearson


def test_row_pearson_matches_numpy_corrcoef_row_by_row():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 30)), rng.normal(size=(50, 30))
    b[:, :5] += a[:, :5] * 3
    expected = [np.corrcoef(a[i], b[i])[0, 1] for i in range(50)]
    np.testing.assert_allclose(row_pearson(a, b), expected, rtol=1e-10)
    assert mean_row_pearson(a, b) == np.mean(expected)


def test_row_pearson_is_zero_for_constant_rows_and_invariant_to_row_scale():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 10))
    b = a.copy()
    b[1] = 5.0
    r = row_pearson(a, b)
    assert r[1] == 0.0 and np.allclose(r[[0, 2, 3]], 1.0)
    np.testing.assert_allclose(row_pearson(a, a * 7 + 3), 1.0)


def test_grouped_pearson_equals_per_group_corrcoef():
    rng = np.random.default_rng(2)
    groups = rng.choice(["x", "y", "z"], size=300)
    t, p = rng.normal(size=300), rng.normal(size=300)
    p += t * (groups == "x")
    keys, r = grouped_pearson(t, p, groups)
    for k, rk in zip(keys, r, strict=True):
        m = groups == k
        assert np.isclose(rk, np.corrcoef(t[m], p[m])[0, 1])
