import numpy as np
import xgboost as xgb

from msci.chunked_svd import ChunkedTruncatedSVD
from msci.losses import pearson_grad_hess
from msci.metrics import mean_row_pearson
from msci.models.registry import make_model
from msci.models.xgb import XGBoostRegressor
from msci.simulate import ModalitySize, simulate_arrays


def _data(n=500, seed=0):
    _, x, _, y, _ = simulate_arrays("cite", ModalitySize(n, 0, 300, 24), seed)
    z = ChunkedTruncatedSVD(16).fit_transform(x).astype(np.float32)
    valid = np.arange(n) % 5 == 0
    return z[~valid], y[~valid], z[valid], y[valid]


def test_boosting_with_the_pearson_objective_raises_pearson_round_after_round():
    X, Y, _, _ = _data()
    base = np.tile(Y.mean(0), (len(X), 1))
    model = xgb.XGBRegressor(objective=lambda t, p: pearson_grad_hess(t, p, scale=Y.shape[1]), n_estimators=15,
                             learning_rate=0.3, max_depth=4, tree_method="hist", n_jobs=2)
    model.fit(X, Y, base_margin=base)
    curve = [mean_row_pearson(Y, base)] + [
        mean_row_pearson(Y, model.predict(X, base_margin=base, iteration_range=(0, k))) for k in range(1, 16)]
    assert all(b > a for a, b in zip(curve, curve[1:], strict=False)), curve


def test_xgboost_model_early_stops_on_validation_pearson_and_beats_the_mean():
    X, Y, Xv, Yv = _data(seed=1)
    model = make_model("xgboost", {"n_estimators": 200, "early_stopping_rounds": 5, "max_depth": 3, "n_jobs": 2},
                       seed=0)
    assert isinstance(model, XGBoostRegressor)
    model.fit(X, Y, eval_set=[(Xv, Yv)])
    assert model.fit_info_["epochs"] < 200 and model.fit_info_["device"] == "cpu"
    pred = model.predict(Xv)
    assert pred.shape == Yv.shape
    r_mean = mean_row_pearson(Yv, np.tile(Y.mean(0), (len(Yv), 1)))
    assert 1 - mean_row_pearson(Yv, pred) < 0.8 * (1 - r_mean)  # at least a fifth of the mean's error gone


def test_xgboost_is_deterministic_for_a_seed():
    X, Y, Xv, Yv = _data(n=200, seed=2)
    a = XGBoostRegressor(n_estimators=5, n_jobs=2).fit(X, Y).predict(Xv)
    b = XGBoostRegressor(n_estimators=5, n_jobs=2).fit(X, Y).predict(Xv)
    np.testing.assert_array_equal(a, b)
