import numpy as np
import pandas as pd
import pytest

from msci.features.cell_type import cell_type_features
from msci.validation.adversarial import adversarial_validation
from msci.validation.celltype import predict_cell_types
from msci.validation.folds import make_folds


def _cells(n_train=300, n_test=100, seed=0):
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    return pd.DataFrame({
        "split": ["train"] * n_train + ["test"] * n_test,
        "day": np.r_[rng.choice([2, 3, 4], n_train), np.full(n_test, 7)],
        "donor": rng.choice([1, 2, 3], n),
        "cell_type": ["A"] * n,
    }, index=[f"c{i}" for i in range(n)])


def _features(cells, shift, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(len(cells), 5))
    X[:, 0] += shift * (cells["day"].to_numpy() - 2) / 5  # later days drift along one axis
    return pd.DataFrame(X, index=cells.index, columns=[f"f{i}" for i in range(5)])


@pytest.mark.parametrize("n_splits", [5, 7])
def test_stratified_folds_hold_each_fold_share_of_good_validation_cells(n_splits):
    cells = _cells(n_train=431)
    rng = np.random.default_rng(1)
    good = pd.Series(rng.random(len(cells)) < 0.13, index=cells.index)
    folds = make_folds(cells, "stratified", n_splits=n_splits, seed=3, good_validation=good)
    assert (folds["good_validation"] == good.loc[folds.index]).all()
    total = folds["good_validation"].sum()
    for _, fold in folds.groupby("fold"):
        expected = total * len(fold) / len(folds)
        assert abs(fold["good_validation"].sum() - expected) <= 1


def test_adversarial_validation_finds_the_test_like_training_cells():
    cells = _cells()
    table, metrics = adversarial_validation(_features(cells, shift=3.0), cells, classifier="logistic", min_share=0.01)
    assert metrics["auc"] > 0.75
    assert not metrics["fallback_top_share"]
    good = table["good_validation"]
    assert not table.loc[good, "is_test"].any()
    assert metrics["mean_p_test_good_validation"] > metrics["mean_p_test_other_train"]
    # The drift grows with the day, so day 4 is the most test-like training day.
    by_day = metrics["good_validation_by_day"]
    assert by_day.get("4", 0) > by_day.get("2", 0)
    assert list(table.columns) == ["is_test", "p_test", "good_validation"]


def test_too_few_test_like_cells_falls_back_to_the_top_share():
    cells = _cells()
    table, metrics = adversarial_validation(_features(cells, shift=0.0), cells, classifier="logistic",
                                            threshold=0.9, min_share=0.1)
    assert metrics["fallback_top_share"] and metrics["n_good_validation"] == 30
    train = table[~table["is_test"]]
    cutoff = train.loc[train["good_validation"], "p_test"].min()
    assert (train.loc[~train["good_validation"], "p_test"] <= cutoff).all()


def test_cell_type_classifier_learns_learnable_types_and_types_test_cells():
    rng = np.random.default_rng(0)
    types = np.array(["HSC", "EryP", "NeuP", "MasP"])
    truth = rng.choice(types, 400)
    centers = {t: rng.normal(scale=3, size=6) for t in types}
    X = np.stack([centers[t] for t in truth]) + rng.normal(size=(400, 6))
    cells = pd.DataFrame({"split": ["train"] * 300 + ["test"] * 100,
                          "cell_type": np.r_[truth[:300], ["hidden"] * 100]}, index=[f"c{i}" for i in range(400)])
    table, metrics = predict_cell_types(pd.DataFrame(X, index=cells.index), cells, seed=0)
    assert metrics["oof_accuracy"] > 0.9
    assert (table["cell_type"].to_numpy()[300:] == truth[300:]).mean() > 0.9
    assert (table["cell_type"].to_numpy()[:300] == truth[:300]).all()  # annotated types are kept
    assert "hidden" not in set(table["cell_type"])
    assert table["annotated"].to_numpy().tolist() == [True] * 300 + [False] * 100
    onehot = cell_type_features(table, train="annotated", encoding="onehot")
    assert onehot.shape == (400, 4) and (onehot.sum(axis=1) == 1).all()
    assert onehot.loc["c350", f"cell_type_{table.loc['c350', 'cell_type']}"] == 1


def test_training_cells_get_their_cell_type_feature_the_way_test_cells_do():
    rng = np.random.default_rng(1)
    types = np.array(["A", "B", "C"])
    truth = rng.choice(types, 300)
    X = np.stack([{"A": [0, 0], "B": [1.5, 0], "C": [0, 1.5]}[t] for t in truth]) + rng.normal(size=(300, 2))
    cells = pd.DataFrame({"split": ["train"] * 200 + ["test"] * 100,
                          "cell_type": np.r_[truth[:200], ["hidden"] * 100]}, index=[f"c{i}" for i in range(300)])
    table, metrics = predict_cell_types(pd.DataFrame(X, index=cells.index), cells, seed=0)
    assert 0.4 < metrics["oof_accuracy"] < 0.95  # a noisy classifier: annotated types are cleaner
    cols = [f"cell_type_{t}" for t in types]
    proba = cell_type_features(table)  # default: out-of-fold probabilities for training cells
    np.testing.assert_allclose(proba[cols].to_numpy(), table[[f"p_{t}" for t in types]].to_numpy())
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    onehot = cell_type_features(table, encoding="onehot")
    # Training cells carry the classifier's out-of-fold type, not the annotation, exactly like test cells.
    chosen = types[onehot[cols].to_numpy().argmax(axis=1)]
    np.testing.assert_array_equal(chosen, table["predicted"].to_numpy())
    assert (chosen[:200] != truth[:200]).mean() == pytest.approx(1 - metrics["oof_accuracy"])
    annotated = cell_type_features(table, train="annotated")
    np.testing.assert_array_equal(types[annotated[cols].to_numpy()[:200].argmax(axis=1)], truth[:200])
    np.testing.assert_allclose(annotated.to_numpy()[200:], proba.to_numpy()[200:])


def test_cell_types_with_rare_or_single_types_are_predicted_or_skipped_not_crashed():
    rng = np.random.default_rng(0)
    idx = pd.Index([f"c{i}" for i in range(40)], name="cell_id")
    features = pd.DataFrame(rng.normal(size=(40, 4)), index=idx)
    types = np.array(["A", "B"] + ["C"] * 19 + ["D"] * 9 + ["hidden"] * 10)
    cells = pd.DataFrame({"split": ["train"] * 30 + ["test"] * 10, "cell_type": types}, index=idx)
    table, metrics = predict_cell_types(features, cells, n_splits=5, seed=0)
    assert len(table) == 40 and metrics["classes"] == ["A", "B", "C", "D"]
    assert set(table["cell_type"][30:]) <= {"A", "B", "C", "D"}
    cells["cell_type"] = ["A", "B", "C"] + ["hidden"] * 37  # no type with two cells
    table, metrics = predict_cell_types(features, cells.assign(split=["train"] * 3 + ["test"] * 37))
    assert metrics["oof_accuracy"] is None and set(table["cell_type"]) == {"unknown"}
