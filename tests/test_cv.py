import numpy as np
import pandas as pd
import pytest

from msci.cv import cross_validate, cv_metrics, stopping_overstatement
from msci.models.linear import RidgeRegressor
from msci.models.nn import MLPRegressor
from msci.models.registry import make_model
from msci.validation.folds import inner_split, make_folds


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

    seen = {}
    res = cross_validate(make, X, Y, folds, X[:5], on_test=lambda k, pred: seen.setdefault(k, pred))
    assert sorted(seen) == [0, 1, 2, 3]  # each fold model's own test predictions, as made
    for k, m in models.items():
        np.testing.assert_allclose(seen[k], np.tile(m.mean_, (5, 1)), rtol=1e-6)
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


class _EarlyStopper(_MeanOfTrainingRows):
    """Records the rows it trained on and the rows of each eval set (ids in column 0)."""

    def fit(self, X, y, eval_set=None):
        self.eval_ids_ = [e[0][:, 0].copy() for e in eval_set]
        self.eval_scale_ = [e[2] for e in eval_set]
        return super().fit(X, y)


def test_early_stopping_models_stop_on_an_inner_split_and_only_watch_the_scored_fold():
    n = 200
    X = np.arange(n, dtype=float)[:, None]
    Y = np.random.default_rng(0).normal(size=(n, 3))
    folds, good, rho = np.arange(n) % 4, np.arange(n) % 5 == 0, np.linspace(0.5, 1, n)
    models = {}

    def make(k):
        models[k] = _EarlyStopper()
        return models[k]

    cross_validate(make, X, Y, folds, X[:5], rho=rho, stop_labels=good, stop_fraction=0.2, seed=3)
    for k, m in models.items():
        scored = np.flatnonzero(folds == k)
        watched, stop = m.eval_ids_
        np.testing.assert_array_equal(watched, scored)        # the scored fold: watched only ...
        assert not np.isin(stop, scored).any()                # ... the epoch is chosen elsewhere
        assert not np.isin(stop, m.ids_).any() and len(stop) + len(m.ids_) == n - len(scored)
        assert len(stop) == 30 and good[stop.astype(int)].sum() == 6  # 20 %, stratified on good validation
        np.testing.assert_array_equal(m.eval_scale_[1], rho[stop.astype(int)])


def test_grouped_folds_early_stop_on_whole_batches_the_model_never_trained_on():
    n = 240
    X = np.arange(n, dtype=float)[:, None]
    Y = np.random.default_rng(0).normal(size=(n, 3))
    batches = np.array([f"donor{i % 6}" for i in range(n)])
    folds = np.arange(n) % 3
    models = {}

    def make(k):
        models[k] = _EarlyStopper()
        return models[k]

    cross_validate(make, X, Y, folds, X[:5], stop_fraction=0.1, seed=3, stop_groups=batches)
    for k, m in models.items():
        stop = m.eval_ids_[1].astype(int)
        assert not np.isin(stop, np.flatnonzero(folds == k)).any()
        assert not set(batches[stop]) & set(batches[m.ids_.astype(int)])  # no batch on both sides
        assert len(set(batches[stop])) == 1  # one of six batches already covers 10 %


def test_inner_split_by_groups_covers_the_fraction_with_whole_groups_and_leaves_one_to_fit():
    rows = np.arange(100)
    groups = np.repeat(["a", "b", "c", "d", "e"], 20)
    fit, stop = inner_split(rows, None, 0.3, seed=4, groups=groups)
    assert len(stop) == 40 and not set(groups[stop]) & set(groups[fit])  # two whole groups reach 30 %
    np.testing.assert_array_equal(stop, inner_split(rows, None, 0.3, seed=4, groups=groups)[1])
    fit, stop = inner_split(rows[:40], None, 0.9, seed=0, groups=groups[:40])
    assert len(fit) == len(stop) == 20  # never every group
    fit, stop = inner_split(rows[:20], None, 0.2, seed=0, groups=groups[:20])
    assert len(stop) == 4  # a single group: stratified rows as without groups


@pytest.mark.parametrize("days, donors, expected", [
    ([2, 3, 4], [1, 2, 3], "group_day"),
    ([2], [1, 2, 3], "group_donor"),
    ([2], [1], "stratified"),
])
def test_auto_folds_hold_out_days_else_donors_else_stratify(days, donors, expected):
    rng = np.random.default_rng(0)
    n = 120
    cells = pd.DataFrame({"split": "train", "day": rng.choice(days, n), "donor": rng.choice(donors, n)},
                         index=[f"c{i}" for i in range(n)])
    good = pd.Series(np.arange(n) % 4 == 0, index=cells.index)
    folds = make_folds(cells, "auto", n_splits=5, good_validation=good)
    assert folds.attrs["strategy"] == expected
    assert ("stop_group" in folds) == expected.startswith("group_")
    if expected.startswith("group_"):
        column = expected.removeprefix("group_")
        assert folds.groupby(cells[column])["fold"].nunique().max() == 1
        np.testing.assert_array_equal(folds["stop_group"], cells["donor"].astype(str) + "/" + cells["day"].astype(str))


def test_inner_split_is_seeded_disjoint_and_keeps_a_cell_on_each_side():
    rows = np.arange(10, 60)
    labels = np.arange(50) % 2 == 0
    fit, stop = inner_split(rows, labels, 0.2, seed=1)
    assert len(stop) == 10 and sorted(np.r_[fit, stop]) == list(rows)
    assert labels[np.isin(rows, stop)].sum() == 5  # 20 % of each stratum
    np.testing.assert_array_equal(inner_split(rows, None, 0.1, seed=1)[1], inner_split(rows, None, 0.1, seed=1)[1])
    fit, stop = inner_split(np.arange(2), None, 0.01, seed=0)
    assert len(fit) == len(stop) == 1


def test_watched_fold_history_is_the_scored_fold_score_of_each_epoch():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(240, 8))
    Y = np.tanh(X @ rng.normal(size=(8, 10))) + rng.normal(size=(240, 10)) * 0.8
    folds = np.arange(240) % 3
    res = cross_validate(lambda k: MLPRegressor(hidden=(16,), epochs=8, batch_size=32, patience=0, random_state=k,
                                                scaler="standard", n_bags=1), X, Y, folds, X[:4],
                         stop_labels=np.arange(240) % 4 == 0)
    for f in res.fold_info:
        assert f["pearson_if_stopped_on_scored"] >= f["pearson"] - 1e-9
        assert f["n_fit"] + f["n_stop"] == 160 and f["n_stop"] == 16
    over = stopping_overstatement(res)
    assert np.isclose(over["cv_pearson_if_stopped_on_scored_fold"] - over["early_stopping_overstatement"],
                      cv_metrics(Y, res.oof, pd.DataFrame(index=range(240)))["cv_pearson"], atol=1e-6)
    assert stopping_overstatement(cross_validate(lambda k: RidgeRegressor(), X, Y, folds, X[:4])) is None


def test_day_out_marks_the_latest_of_at_least_two_training_days():
    cells = _cells()
    folds = make_folds(cells, "kfold", n_splits=5, seed=1)
    np.testing.assert_array_equal(folds["day_out"], cells.loc[folds.index, "day"] == 4)
    assert not make_folds(cells.assign(day=2), "kfold", n_splits=5)["day_out"].any()
    assert not make_folds(cells, "kfold", n_splits=5, day_out=False)["day_out"].any()


def test_day_out_model_is_trained_on_the_earlier_days_only(tmp_path):
    import json

    from conftest import encode

    from msci.io.matrix import MatrixFile, write_matrix
    from msci.metrics import mean_row_pearson
    from msci.training import train_model

    rng = np.random.default_rng(0)
    n, n_test = 120, 10
    ids = np.array([f"c{i}" for i in range(n + n_test)], dtype=object)
    day = np.r_[np.arange(n) % 3 + 2, [7] * n_test]
    X = rng.normal(size=(n + n_test, 5))
    Y = X[:n] @ rng.normal(size=(5, 4)) + rng.normal(size=(n, 4)) + (day[:n] == 4)[:, None] * 3.0 * np.arange(4)
    pd.DataFrame(X, index=pd.Index(ids, name="cell_id"), columns=[f"f{j}" for j in range(5)]).to_parquet(
        tmp_path / "f.parquet")
    targets = [f"t{j}" for j in range(4)]
    write_matrix(tmp_path / "y.h5ad", Y.astype(np.float32), ids[:n], targets)
    pd.DataFrame({"split": ["train"] * n + ["test"] * n_test, "day": day}, index=ids).to_parquet(
        tmp_path / "cells.parquet")
    make_folds(pd.read_parquet(tmp_path / "cells.parquet"), "kfold", 4).to_parquet(tmp_path / "folds.parquet")
    files = encode(tmp_path, tmp_path / "y.h5ad", tmp_path / "folds.parquet")
    out = {k: str(tmp_path / f"{k}.out") for k in ("oof", "test", "metrics", "day_out")}
    train_model("ridge", {"alpha": 1.0}, [str(tmp_path / "f.parquet")], files, str(tmp_path / "cells.parquet"),
                str(tmp_path / "folds.parquet"), out["oof"], out["test"], out["metrics"], out_day_out=out["day_out"])
    latest = day[:n] == 4
    expected = RidgeRegressor(alpha=1.0).fit(X[:n][~latest], Y[~latest]).predict(X[:n][latest])
    got = MatrixFile(out["day_out"])
    assert list(got.obs_names) == list(ids[:n][latest])
    np.testing.assert_allclose(got.read(), expected, rtol=1e-4, atol=1e-4)
    metrics = json.loads(open(out["metrics"]).read())
    assert np.isclose(metrics["cv_pearson_day_out"], mean_row_pearson(Y[latest], expected), atol=1e-5)
    assert metrics["day_out"]["day"] == "4" and "early_stopping_overstatement" not in metrics
