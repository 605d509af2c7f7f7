"""The estimator protocol: one class per model type, each taking only its own parameters, sklearn-compatible."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import yaml
from conftest import REPO
from sklearn.base import clone
from sklearn.utils import estimator_checks as checks

from msci.metrics import mean_row_pearson
from msci.models.architectures import CNN1D, MLP, ResNetMLP
from msci.models.linear import RidgeRegressor
from msci.models.nn import CNN1DRegressor, MLPRegressor, NeuralRegressor, ResNetRegressor
from msci.models.registry import REGISTRY, make_model, parameter_defaults, register
from msci.models.tabnet import TabNetModel, pretrain_tabnet

# Types whose defaults (the real-data ones) take more than a moment, with parameters that do not; every other
# registered type is tested with its defaults, so a new type needs no line here.
TINY = {
    "xgboost": {"n_estimators": 3, "max_depth": 2, "n_jobs": 1},
    "mlp": {"hidden": (8,), "epochs": 2, "batch_size": 16, "n_bags": 1, "n_jobs": 1},
    "resnet": {"width": 8, "n_blocks": 2, "epochs": 2, "batch_size": 16, "n_bags": 1, "n_jobs": 1},
    "cnn1d": {"hidden_size": 16, "channels": (4, 8), "epochs": 2, "batch_size": 16, "n_jobs": 1},
    "tabnet": {"n_d": 4, "n_a": 4, "epochs": 2, "batch_size": 32, "virtual_batch_size": 16},
    "knn": {"n_neighbors": 5},
}
# sklearn's estimator checks that apply to multi-output models whose fit needs a 2-D target.
SKLEARN_CHECKS = [checks.check_parameters_default_constructible, checks.check_no_attributes_set_in_init,
                  checks.check_get_params_invariance, checks.check_set_params, checks.check_estimator_cloneable,
                  checks.check_estimator_repr, checks.check_do_not_raise_errors_in_init_or_set_params,
                  checks.check_mixin_order]
ARCHITECTURES = {MLPRegressor: MLP, ResNetRegressor: ResNetMLP, CNN1DRegressor: CNN1D}


def tiny(model_type: str) -> dict:
    return TINY.get(model_type, {})


def test_the_registry_holds_every_model_module_type_and_model_params_yaml_is_generated_from_it():
    assert {"ridge", "krr", "knn", "mlp", "resnet", "cnn1d", "tabnet", "xgboost"} <= set(REGISTRY)
    assert set(TINY) <= set(REGISTRY)
    generated = yaml.safe_load((REPO / "workflow/schemas/model_params.yaml").read_text())
    assert {t: v["gpu"] for t, v in generated.items()} == {t: cls.uses_gpu for t, cls in REGISTRY.items()}
    assert {t for t, cls in REGISTRY.items() if cls.uses_gpu} == {"mlp", "resnet", "cnn1d", "tabnet", "xgboost"}


def test_a_type_name_registered_twice_is_refused():
    with pytest.raises(ValueError, match="registered twice"):
        register("ridge")(type("OtherRidge", (), {}))


@pytest.mark.parametrize("check", SKLEARN_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("model_type", sorted(REGISTRY))
def test_estimator_passes_sklearn_checks(model_type, check):
    check(REGISTRY[model_type].__name__, REGISTRY[model_type](**tiny(model_type)))


@pytest.mark.parametrize(("estimator", "network"), ARCHITECTURES.items(), ids=lambda c: c.__name__)
def test_neural_estimator_takes_its_networks_parameters_and_the_shared_training_ones_only(estimator, network):
    training = set(inspect.signature(NeuralRegressor._set_training).parameters) - {"self"}
    architecture = set(inspect.signature(network).parameters) - {"n_in", "n_out"}
    assert set(estimator().get_params()) == architecture | training


def test_mlp_refuses_the_cnn_parameters():
    assert not {"channels", "hidden_size", "width", "n_blocks"} & set(parameter_defaults()["mlp"]["params"])
    with pytest.raises(ValueError, match="mlp: unknown parameter.s. channels"):
        make_model("mlp", {"channels": [8, 16]})


def test_tabnet_pretraining_builds_the_fine_tuned_models_default_architecture():
    pretrain = inspect.signature(pretrain_tabnet).parameters
    model = TabNetModel().get_params()
    for name in ("n_d", "n_a", "n_steps", "gamma", "device"):
        assert pretrain[name].default == model[name], name


@pytest.mark.parametrize("model_type", sorted(REGISTRY))
def test_fitting_leaves_the_parameters_and_a_clone_refits_to_the_same_predictions(model_type):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 6)).astype(np.float32)
    Y = (np.tanh(X @ rng.normal(size=(6, 5))) + 0.1 * rng.normal(size=(96, 5))).astype(np.float32)
    model = make_model(model_type, tiny(model_type), seed=1)
    before = model.get_params()
    first = model.fit(X[:64], Y[:64]).predict(X[64:])
    assert model.get_params() == before
    assert first.shape == (32, 5) and first.dtype == np.float32
    np.testing.assert_array_equal(clone(model).fit(X[:64], Y[:64]).predict(X[64:]), first)


@pytest.mark.parametrize("model_type", sorted(REGISTRY))
def test_a_saved_model_loads_and_predicts_the_same(model_type, tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(80, 6)).astype(np.float32)
    Y = (X @ rng.normal(size=(6, 4))).astype(np.float32)
    model = make_model(model_type, tiny(model_type), seed=1).fit(X[:64], Y[:64])
    model.save(str(tmp_path / "m"))
    again = REGISTRY[model_type].load(str(tmp_path / "m"), model.get_params())
    np.testing.assert_allclose(again.predict(X[64:]), model.predict(X[64:]), atol=1e-5)


def test_kernel_ridge_beyond_max_exact_is_nystroem_and_with_every_cell_as_landmark_equals_the_exact_one(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 8)).astype(np.float32)
    Y = np.sin(X[:, :3]).astype(np.float32)
    exact = make_model("krr", {"length_scale": 3.0}).fit(X[:60], Y[:60])
    approx = make_model("krr", {"length_scale": 3.0, "max_exact": 30, "n_components": 60}).fit(X[:60], Y[:60])
    assert type(exact.models_[0][-1]).__name__ == "KernelRidge"
    assert type(approx.models_[0][-1]).__name__ == "NystroemRidge"
    np.testing.assert_allclose(approx.predict(X[60:]), exact.predict(X[60:]), atol=1e-3)
    approx.save(str(tmp_path / "nystroem"))
    again = REGISTRY["krr"].load(str(tmp_path / "nystroem"), approx.get_params())
    np.testing.assert_array_equal(again.predict(X[60:]), approx.predict(X[60:]))


def test_kernel_ridge_leave_one_out_scores_equal_refitting_without_each_cell():
    from sklearn.kernel_ridge import KernelRidge

    from msci.metrics import row_pearson
    from msci.models.kernel import loo_scores

    rng = np.random.default_rng(9)
    Z, y = rng.normal(size=(25, 4)), rng.normal(size=(25, 5))
    scores = loo_scores(Z, y, [1.5, 4.0], [0.1, 1.0])
    for (length_scale, alpha), score in scores.items():
        loo = np.stack([KernelRidge(alpha=alpha, kernel="rbf", gamma=1 / (2 * length_scale ** 2))
                        .fit(np.delete(Z, i, 0), np.delete(y, i, 0)).predict(Z[i:i + 1])[0] for i in range(len(Z))])
        assert score == pytest.approx(row_pearson(y, loo).mean(), abs=1e-8)


def test_tuned_kernel_ridge_picks_its_width_on_training_cells_and_beats_a_wrong_fixed_one():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(300, 40)).astype(np.float32)
    Y = np.tanh(X[:, :8] @ rng.normal(size=(8, 6))).astype(np.float32)
    tuned = make_model("krr", {"tune": True, "length_scale": 100.0}).fit(X[:200], Y[:200])
    fixed = make_model("krr", {"length_scale": 100.0}).fit(X[:200], Y[:200])
    assert tuned.length_scale_ != 100.0 and tuned.fit_info_ == {"length_scale": tuned.length_scale_,
                                                                "alpha": tuned.alpha_}
    score = {name: mean_row_pearson(Y[200:], m.predict(X[200:])) for name, m in (("tuned", tuned), ("fixed", fixed))}
    assert score["tuned"] > score["fixed"] + 0.02
    again = make_model("krr", {"tune": True, "length_scale": 100.0}).fit(X[:200], Y[:200])
    assert (again.length_scale_, again.alpha_) == (tuned.length_scale_, tuned.alpha_)


def test_nystroem_ridge_summed_over_row_blocks_equals_a_ridge_on_the_whole_map():
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import Ridge

    from msci.models.kernel import NystroemRidge

    rng = np.random.default_rng(8)
    X, Y = rng.normal(size=(50, 4)), rng.normal(size=(50, 3))
    nystroem = Nystroem(gamma=0.1, n_components=20, random_state=0)
    blocked = NystroemRidge(nystroem, alpha=0.5, block_rows=7).fit(X, Y)
    whole = Ridge(alpha=0.5, fit_intercept=False).fit(nystroem.fit(X).transform(X), Y)
    np.testing.assert_allclose(blocked.predict(X), whole.predict(nystroem.transform(X)), atol=1e-4)


def test_knn_with_every_training_cell_as_neighbour_predicts_their_mean():
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(40, 5)).astype(np.float32), rng.normal(size=(40, 3)).astype(np.float32)
    pred = make_model("knn", {"n_neighbors": 30}).fit(X[:30], Y[:30]).predict(X[30:])
    np.testing.assert_allclose(pred, np.broadcast_to(Y[:30].mean(0), pred.shape), atol=1e-5)


def test_kernel_ridge_bags_split_the_batches_into_halves_never_splitting_one():
    groups = np.repeat(np.array(["d1/2", "d1/3", "d2/2", "d2/3", "d3/4"]), 8)
    model = make_model("krr", {"n_bags": 3}, seed=5)
    halves = model.halves(groups, len(groups))
    assert len(halves) == 6
    for a, b in zip(halves[::2], halves[1::2], strict=True):
        np.testing.assert_array_equal(np.sort(np.concatenate([a, b])), np.arange(len(groups)))
        assert not set(groups[a]) & set(groups[b])
    assert len({tuple(h) for h in halves}) > 2  # the bags reshuffle the batches


def test_kernel_ridge_with_bags_averages_one_model_per_half_predicting_in_blocks(monkeypatch):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(80, 6)).astype(np.float32)
    Y = np.sin(X[:, :2]).astype(np.float32)
    groups = np.repeat(np.arange(4), 15)
    model = make_model("krr", {"n_bags": 2, "length_scale": 3.0}, seed=1).fit(X[:60], Y[:60], groups=groups)
    assert len(model.models_) == 4
    halves = model.halves(groups, 60)
    own = np.mean([make_model("krr", {"length_scale": 3.0}).fit(X[r], Y[r]).predict(X[60:]) for r in halves], axis=0)
    np.testing.assert_allclose(model.predict(X[60:]), own, atol=1e-5)
    monkeypatch.setattr("msci.models.kernel.PREDICT_ROWS", 7)  # predicted in blocks of 7 cells: the same
    np.testing.assert_allclose(model.predict(X[60:]), own, atol=1e-5)


def test_cross_validation_gives_each_fold_model_the_batches_of_its_training_cells():
    from msci.cv import cross_validate

    seen = []

    class Recorder(RidgeRegressor):
        def fit(self, X, y, groups=None):
            seen.append(groups)
            return super().fit(X, y)

    rng = np.random.default_rng(7)
    X, Y = rng.normal(size=(30, 4)), rng.normal(size=(30, 2))
    folds, groups = np.arange(30) % 3, np.arange(30) // 10
    cross_validate(lambda k: Recorder(), X, Y, folds, None, groups=groups)
    for k, got in enumerate(seen):
        np.testing.assert_array_equal(got, groups[folds != k])


def test_training_batches_are_donor_by_day_or_whichever_the_cells_have():
    import pandas as pd

    from msci.training import TrainingData

    cells = pd.DataFrame({"donor": [13176, 13176, 31800], "day": [2, 3, 2], "split": "train"},
                         index=["a", "b", "c"])

    class Splits:
        cells = np.array(["c", "a"])

    def batches(table):
        return TrainingData(table, Splits(), pd.DataFrame(), pd.DataFrame(), pd.Index([])).batches

    np.testing.assert_array_equal(batches(cells), ["31800/2", "13176/2"])
    np.testing.assert_array_equal(batches(cells.drop(columns="donor")), ["2", "2"])
    assert batches(cells.drop(columns=["donor", "day"])) is None
