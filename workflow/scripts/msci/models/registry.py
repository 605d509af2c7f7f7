"""Config ``type:`` → estimator class. Adding a model type is one line here."""

from __future__ import annotations

from typing import Any

from msci.models.linear import RidgeRegressor
from msci.models.nn import CNN1DRegressor, MLPRegressor, ResNetRegressor
from msci.models.tabnet import TabNetModel
from msci.models.xgb import XGBoostRegressor

REGISTRY: dict[str, type] = {
    "ridge": RidgeRegressor,
    "xgboost": XGBoostRegressor,
    "mlp": MLPRegressor,
    "resnet": ResNetRegressor,
    "cnn1d": CNN1DRegressor,
    "tabnet": TabNetModel,
}


def _coerce(value: Any, default: Any) -> Any:
    """A config value converted to the type of the parameter's default.

    Values can arrive as strings (``--config`` overrides relayed to cluster jobs), so ``"0.2"``
    becomes ``0.2`` where the default is a float; anything that does not convert is an error.
    """
    if not isinstance(value, str) or default is None or isinstance(default, str):
        return value
    try:
        if isinstance(default, bool):
            if value.lower() in ("true", "yes", "1"):
                return True
            if value.lower() in ("false", "no", "0"):
                return False
            raise ValueError(value)
        if isinstance(default, (int, float)):
            number = float(value)
            return int(number) if isinstance(default, int) and number.is_integer() else number
        if isinstance(default, (list, tuple)):
            import yaml

            return yaml.safe_load(value)
    except ValueError:
        raise ValueError(f"cannot read {value!r} as a {type(default).__name__}") from None
    return value


def make_model(model_type: str, params: dict[str, Any], seed: int | None = None, threads: int | None = None):
    """An unfitted estimator of ``model_type`` with ``params``.

    ``seed`` and ``threads`` fill ``random_state`` and ``n_jobs`` where the estimator has them and the
    config does not set them.
    """
    try:
        cls = REGISTRY[model_type]
    except KeyError:
        raise ValueError(f"unknown model type {model_type!r}; known: {', '.join(sorted(REGISTRY))}") from None
    params = dict(params)
    valid = cls().get_params() if hasattr(cls, "get_params") else {}
    unknown = set(params) - set(valid)
    if unknown:
        raise ValueError(f"{model_type}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(valid))}")
    params = {k: _coerce(v, valid.get(k)) for k, v in params.items()}
    if seed is not None and "random_state" in valid and "random_state" not in params:
        params["random_state"] = seed
    if threads is not None and "n_jobs" in valid and params.get("n_jobs") is None:
        params["n_jobs"] = threads
    return cls(**params)
