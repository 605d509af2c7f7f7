"""Each cell's level and scale: predicted out of fold, and the scale's shrinkage measured without the cell."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from msci.ensemble import row_standardize
from msci.io.matrix import MatrixFile, write_matrix
from msci.metrics import row_pearson
from msci.units import OofFit, cell_levels, cross_fitted_shrinkage, predict_levels, to_units


def test_the_error_of_any_shrinkage_follows_from_two_numbers_per_cell():
    rng = np.random.default_rng(0)
    y = rng.normal(2, 1.5, (30, 9))
    z = row_standardize(y + rng.normal(size=y.shape))
    level = np.c_[rng.normal(2, 0.3, 30), rng.uniform(1, 2, 30)]
    a = rng.uniform(0, 1, 30)
    d = y - level[:, :1]
    fit = OofFit(np.einsum("ij,ij->i", d, d), np.einsum("ij,ij->i", y, z), row_pearson(y, z), 9)
    direct = np.sqrt(((y - (level[:, :1] + a[:, None] * level[:, 1:] * z)) ** 2).mean())
    assert fit.rmse(level[:, 1], a) == pytest.approx(direct, rel=1e-6)  # z is float32
    assert np.allclose(to_units(z, level, 0.5), level[:, :1] + 0.5 * level[:, 1:] * z, atol=1e-5)


def test_a_cells_shrinkage_comes_only_from_the_other_folds_cells():
    pearson = np.array([0.9, 0.8, 0.2, 0.4, 0.6])
    fold = np.array([0, 0, 1, 1, 2])
    a = cross_fitted_shrinkage(pearson, fold)
    assert a[0] == pytest.approx(np.mean([0.2, 0.4, 0.6])) and a[4] == pytest.approx(np.mean([0.9, 0.8, 0.2, 0.4]))


def test_levels_are_predicted_out_of_fold_from_the_features(tmp_path):
    rng = np.random.default_rng(1)
    n = 300
    X = rng.normal(size=(n, 5))
    y = rng.normal(size=(n, 20)) * np.exp(0.3 * X[:, 1:2]) + 2 + X[:, :1]  # level and scale follow the features
    write_matrix(tmp_path / "t.h5ad", y.astype(np.float32), [f"c{i}" for i in range(n)], [f"g{j}" for j in range(20)])
    levels, profile = cell_levels(MatrixFile(tmp_path / "t.h5ad"), chunk_rows=64)
    assert np.allclose(levels["mean"], y.mean(1), atol=1e-5) and np.allclose(levels["sd"], y.std(1), atol=1e-5)
    assert np.allclose(profile, y.mean(0), atol=1e-5)
    fold = np.arange(n) % 3
    oof, test, models = predict_levels(X, levels, fold, X[:10], alpha=1.0)
    assert len(models) == 3 and test.shape == (10, 2)
    assert np.corrcoef(oof[:, 0], levels["mean"])[0, 1] > 0.9
    assert np.corrcoef(np.log(oof[:, 1]), np.log(levels["sd"]))[0, 1] > 0.5
    # Fold 0's predictions never saw fold 0's levels.
    changed = levels.copy()
    changed.loc[fold == 0, "mean"] += 100
    again, _, _ = predict_levels(X, pd.DataFrame(changed), fold, X[:10], alpha=1.0)
    assert np.allclose(again[fold == 0], oof[fold == 0]) and not np.allclose(again[fold == 1], oof[fold == 1])
