"""Every early-stopping model stops on the last eval set and records every set's score per epoch/round."""

import numpy as np
import pytest

from msci.metrics import mean_row_pearson
from msci.models.registry import make_model

PARAMS = {
    "mlp": {"hidden": [32], "epochs": 10, "batch_size": 32, "patience": 3, "lr": 3e-3, "n_bags": 1, "n_jobs": 1},
    "xgboost": {"n_estimators": 30, "max_depth": 3, "learning_rate": 0.3, "early_stopping_rounds": 4, "n_jobs": 1},
    "tabnet": {"n_d": 8, "n_a": 8, "n_steps": 1, "epochs": 8, "patience": 3, "batch_size": 64,
               "virtual_batch_size": 32, "lr": 0.02},
}


@pytest.mark.parametrize("kind", sorted(PARAMS))
def test_last_eval_set_decides_the_epoch_and_every_set_is_scored_with_its_scale(kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(360, 6)).astype(np.float32)
    Y = (np.tanh(X @ rng.normal(size=(6, 8))) + rng.normal(size=(360, 8)) * 0.7).astype(np.float32)
    scale = rng.uniform(0.2, 1.0, size=60)
    watched, stop = (X[240:300], Y[240:300], scale), (X[300:], Y[300:])
    model = make_model(kind, PARAMS[kind], seed=0)
    model.fit(X[:240], Y[:240], eval_set=[watched, stop])
    h_watched, h_stop = model.eval_history_
    assert len(h_watched) == len(h_stop) >= model.fit_info_["epochs"]
    best = model.fit_info_["epochs"]
    assert best == int(np.argmax(h_stop)) + 1
    assert np.isclose(mean_row_pearson(Y[300:], model.predict(X[300:])), h_stop[best - 1], atol=1e-4)
    # The watched set's history is its scale-weighted score at each epoch, of the restored epoch too.
    assert np.isclose(mean_row_pearson(Y[240:300], model.predict(X[240:300]), scale), h_watched[best - 1], atol=1e-4)
    assert not np.isclose(h_watched[best - 1], mean_row_pearson(Y[240:300], model.predict(X[240:300])), atol=1e-4)


@pytest.mark.parametrize("kind", sorted(PARAMS))
def test_watching_another_eval_set_changes_nothing_in_training(kind):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 6)).astype(np.float32)
    Y = (np.tanh(X @ rng.normal(size=(6, 8))) + rng.normal(size=(300, 8)) * 0.7).astype(np.float32)
    stop = (X[250:], Y[250:])
    alone = make_model(kind, PARAMS[kind], seed=0).fit(X[:200], Y[:200], eval_set=[stop])
    watched = make_model(kind, PARAMS[kind], seed=0).fit(X[:200], Y[:200], eval_set=[(X[200:250], Y[200:250]), stop])
    assert alone.fit_info_["epochs"] == watched.fit_info_["epochs"]
    np.testing.assert_array_equal(alone.predict(X[250:]), watched.predict(X[250:]))


@pytest.mark.parametrize("kind, params, stops", [("xgboost", {"early_stopping_rounds": None}, False),
                                                 ("xgboost", {}, True), ("tabnet", {"patience": 0}, False),
                                                 ("mlp", {"patience": 0}, True), ("ridge", {}, False)])
def test_cells_are_held_back_only_for_models_whose_epoch_an_eval_set_would_choose(kind, params, stops):
    from msci.cv import stops_early

    assert stops_early(make_model(kind, params)) == stops
