import numpy as np
import pandas as pd
import pytest

from msci.cv import cross_validate, cv_metrics
from msci.models.linear import RidgeRegressor
from msci.models.registry import make_model
from msci.validation.folds import make_folds


class _MeanOfTrainingRows:
    """Predicts the mean of its training rows' targets: shows which rows each fold trained on."""

    def fit(self, X, y):
        self.ids_ = X[:, 0].copy()
        self.mean_ = y.mean(axis=0)
        return self

    def predict(self, X):
        return np.tile(self.mean_, (len(X), 1))


def test_oof_rows_come_from_models_that_never_saw_them():
    n = 60
    X = np.arange(n, dtype=float)[:, None]
    Y = np.random.default_rng(0).normal(size=(n, 3))
    folds = np.arange(n) % 4
    models = {}

    def make(k):
        models[k] = _MeanOfTrainingRows()
        return models[k]

    res = cross_validate(make, X, Y, folds, X[:5])
    for k, m in models.items():
        assert not np.isin(np.flatnonzero(folds == k), m.ids_).any()
        np.testing.assert_allclose(res.oof[folds == k], np.tile(Y[folds != k].mean(0), ((folds == k).sum(), 1)),
                                   rtol=1e-6)
    expected_test = np.mean([m.mean_ for m in models.values()], axis=0)
    np.testing.assert_allclose(res.test, np.tile(expected_test, (5, 1)), rtol=1e-6)
    assert len(res.fold_scores) == 4


def test_ridge_recovers_a_linear_map():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 10))
    Y = X @ rng.normal(size=(10, 6))
    res = cross_validate(lambda k: RidgeRegressor(alpha=1e-3), X, Y, np.arange(300) % 5, X)
    metrics = cv_metrics(Y, res.oof, pd.DataFrame({"day": np.arange(300) % 2}))
    assert metrics["cv_pearson"] > 0.999 and set(metrics["cv_pearson_by_day"]) == {"0", "1"}


def test_registry_rejects_unknown_types_and_parameters():
    with pytest.raises(ValueError, match="unknown model type"):
        make_model("nope", {})
    with pytest.raises(ValueError, match="unknown parameter"):
        make_model("ridge", {"alpah": 1.0})
    assert make_model("ridge", {"alpha": 2.0}).alpha == 2.0


def _cells(n=100):
    rng = np.random.default_rng(0)
    return pd.DataFrame({"split": ["train"] * n + ["test"] * 10, "day": np.r_[rng.choice([2, 3, 4], n), [7] * 10],
                         "donor": np.r_[rng.choice([1, 2, 3], n), [4] * 10]},
                        index=[f"c{i}" for i in range(n + 10)])


def test_kfold_assigns_every_training_cell_exactly_once():
    folds = make_folds(_cells(), "kfold", n_splits=5, seed=1)
    assert "good_validation" not in folds
    assert len(folds) == 100 and sorted(folds["fold"].unique()) == [0, 1, 2, 3, 4]
    assert folds["fold"].value_counts().max() - folds["fold"].value_counts().min() <= 1


@pytest.mark.parametrize("strategy, column", [("group_day", "day"), ("group_donor", "donor")])
def test_group_strategies_hold_out_whole_groups(strategy, column):
    cells = _cells()
    folds = make_folds(cells, strategy, n_splits=7)
    groups = cells.loc[folds.index, column]
    assert folds.groupby(groups)["fold"].nunique().max() == 1
    assert folds["fold"].nunique() == 3  # capped at the number of groups


def test_registry_reads_numbers_and_lists_given_as_strings():
    model = make_model("mlp", {"dropout": "0.2", "epochs": "3", "hidden": "[8, 4]", "batch_norm": "false"})
    assert model.dropout == 0.2 and model.epochs == 3 and model.hidden == [8, 4] and model.batch_norm is False
    with pytest.raises(ValueError, match="cannot read 'abc' as a float"):
        make_model("ridge", {"alpha": "abc"})
