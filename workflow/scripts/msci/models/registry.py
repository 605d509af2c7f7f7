"""Config ``type:`` → estimator class, filled by the model modules themselves.

A model type is one module of this package whose class is decorated with :func:`register` (its config name and
whether it trains on a GPU). Importing this module imports every module of the package, so :data:`REGISTRY`
always holds every type; ``make schemas`` writes each type's parameters and GPU flag to
``workflow/schemas/model_params.yaml``, which the workflow checks configs and asks for GPUs with.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

REGISTRY: dict[str, type] = {}


def register(name: str, *, gpu: bool = False, libraries: tuple[str, ...] = ()) -> Callable[[type], type]:
    """Class decorator: the estimator is config ``type: name``; ``gpu``: its training rule asks for a GPU;
    ``libraries``: the distributions its saved files need beyond scikit-learn and skops (a model card states
    their versions, and loading an archive checks them).

    Examples
    --------
    >>> @register("ridge")                                   # doctest: +SKIP
    ... class RidgeRegressor(SkopsSaved, RegressorMixin, BaseEstimator): ...
    """
    def add(cls: type) -> type:
        if name in REGISTRY and REGISTRY[name] is not cls:
            raise ValueError(f"model type {name!r} is registered twice ({REGISTRY[name].__name__}, {cls.__name__})")
        cls.model_type, cls.uses_gpu, cls.libraries = name, gpu, tuple(libraries)
        REGISTRY[name] = cls
        return cls
    return add


def _import_model_modules() -> None:
    """Every module of ``msci.models``: each registers its types when imported."""
    package = importlib.import_module("msci.models")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "registry":
            importlib.import_module(f"msci.models.{info.name}")


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


# Keys of a TabNet model's `pretrain` config entry: pretrain_tabnet's own parameters (the architecture
# comes from the model's params; the seed from the workflow).
_PRETRAIN_FIXED = {"X", "out_path", "seed", "n_d", "n_a", "n_steps", "gamma", "device"}


def _plain(value: Any) -> Any:
    """A default as YAML writes it: tuples (immutable defaults) as lists."""
    return list(value) if isinstance(value, tuple) else value


def parameter_defaults() -> dict[str, dict[str, dict[str, Any]]]:
    """Per model type: ``gpu`` (whether its training rule asks for a GPU), ``libraries`` (what its saved files need
    beyond scikit-learn and skops) and the config keys it accepts, each with
    its default: ``params`` (its estimator's constructor, their one home) and, for TabNet, ``pretrain``
    (``pretrain_tabnet``'s)."""
    import inspect

    from msci.models.tabnet import pretrain_tabnet

    out = {t: {"gpu": cls.uses_gpu, "libraries": list(cls.libraries),
               "params": {k: _plain(v) for k, v in cls().get_params().items()}} for t, cls in REGISTRY.items()}
    pretrain = inspect.signature(pretrain_tabnet).parameters
    out["tabnet"]["pretrain"] = {k: _plain(p.default) for k, p in pretrain.items() if k not in _PRETRAIN_FIXED}
    return out


def schema_text() -> str:
    """``workflow/schemas/model_params.yaml``: one parameter a line, lists inline."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(list, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))
    return ("# Generated by `make schemas` (python -m msci.models.registry) from the estimators: do not edit.\n"
            "# Each model type (registered by its module in msci/models/): whether its training asks for a GPU,\n"
            "# the libraries its saved files need beyond scikit-learn and skops (model cards state them),\n"
            "# and its config parameters with their defaults (its estimator's constructor, their one home;\n"
            "# random_state and n_jobs come from the workflow's seed and threads): a model entry in config.yaml\n"
            "# sets only the parameters that differ.\n"
            + yaml.dump(parameter_defaults(), Dumper=Dumper, default_flow_style=False, sort_keys=True, width=100))


_import_model_modules()

if __name__ == "__main__":  # python -m msci.models.registry > workflow/schemas/model_params.yaml
    from msci.models import registry  # the module the model modules registered into (this one runs as __main__)

    print(registry.schema_text(), end="")
