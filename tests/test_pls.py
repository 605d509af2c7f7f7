"""The PLS model type: a low-rank linear map recovered; the workflow accepts it by its registered name alone."""

from __future__ import annotations

import numpy as np

from msci.metrics import mean_row_pearson
from msci.models.pls import PLSRegressor
from msci.models.registry import REGISTRY, make_model, parameter_defaults


def test_pls_recovers_a_low_rank_linear_map_better_than_the_mean_profile():
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(300, 3))
    X = (latent @ rng.normal(size=(3, 40)) + 0.3 * rng.normal(size=(300, 40))).astype(np.float32)
    Y = (latent @ rng.normal(size=(3, 12)) + 0.1 * rng.normal(size=(300, 12))).astype(np.float32)
    pred = make_model("pls", {"n_components": 3}).fit(X[:200], Y[:200]).predict(X[200:])
    mean = np.broadcast_to(Y[:200].mean(axis=0), (100, 12))
    assert mean_row_pearson(Y[200:], pred) > mean_row_pearson(Y[200:], mean) + 0.2


def test_pls_keeps_its_components_below_the_cells_and_features_it_has():
    rng = np.random.default_rng(1)
    model = PLSRegressor(n_components=32).fit(rng.normal(size=(10, 4)), rng.normal(size=(10, 3)))
    assert model.pls_.n_components == 4 and model.predict(rng.normal(size=(2, 4))).shape == (2, 3)


def test_pls_is_registered_for_the_config_with_its_parameters():
    assert REGISTRY["pls"] is PLSRegressor and not PLSRegressor.uses_gpu
    assert parameter_defaults()["pls"]["params"] == {"max_iter": 500, "n_components": 32, "scale": True}
