import numpy as np

from msci.io.matrix import MatrixFile, write_matrix
from msci.metrics import ColumnPearson
from msci.report import per_target_pearson


def test_per_target_pearson_uses_the_weighted_unstandardised_model_predictions(tmp_path):
    rng = np.random.default_rng(0)
    n, t = 200, 5
    ids, genes = [f"c{i}" for i in range(n)], [f"g{j}" for j in range(t)]
    y = rng.normal(size=(n, t)) * rng.uniform(0.5, 3, size=(n, 1)) + rng.normal(size=(n, 1))
    a = y + rng.normal(size=(n, t))           # each cell's scale and offset carry information across cells
    b = rng.normal(size=(n, t))
    for name, m in (("y", y), ("a", a), ("b", b)):
        write_matrix(tmp_path / f"{name}.h5ad", m.astype(np.float32), ids, genes)
    files = {k: MatrixFile(tmp_path / f"{k}.h5ad") for k in ("a", "b")}
    r = per_target_pearson(files, {"a": 3.0, "b": 1.0}, lambda start, stop, codes: codes,
                           MatrixFile(tmp_path / "y.h5ad"), chunk_rows=64)
    expected = ColumnPearson(t)
    expected.update(y, 0.75 * a + 0.25 * b)
    np.testing.assert_allclose(r.to_numpy(), expected.result(), atol=1e-5)
    # Standardising each cell first (as the blend for the per-cell metric does) would change the figures.
    z = lambda m: (m - m.mean(1, keepdims=True)) / m.std(1, keepdims=True)  # noqa: E731
    standardised = ColumnPearson(t)
    standardised.update(y, 0.75 * z(a) + 0.25 * z(b))
    assert np.abs(r.to_numpy() - standardised.result()).max() > 0.05
