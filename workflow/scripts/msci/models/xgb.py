"""XGBoost with the exact per-cell Pearson objective, multi-output, early-stopped on that metric."""

from __future__ import annotations

import time

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from msci.device import resolve_device
from msci.io.artifacts import atomic_path, write_npz
from msci.losses import PearsonObjective
from msci.metrics import mean_row_pearson
from msci.models import eval_triples
from msci.models.registry import register


def _xgb_device(device: str) -> str:
    import xgboost as xgb

    dev = resolve_device(device)
    if dev.startswith("cuda") and not xgb.build_info().get("USE_CUDA", False):
        return "cpu"  # a CPU-only xgboost build (xgboost-cpu) on a GPU machine
    return dev


def _pearson_error(y_true: np.ndarray, y_pred: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
    """1 − mean per-cell Pearson (each cell's scaled by its eval-set weight): XGBoost minimises metrics."""
    return 1.0 - mean_row_pearson(y_true, y_pred.reshape(y_true.shape), sample_weight)


@register("xgboost", gpu=True, libraries=("xgboost",))
class XGBoostRegressor(RegressorMixin, BaseEstimator):
    """Gradient-boosted trees predicting all targets at once.

    ``objective="pearson"`` boosts 1 − per-cell Pearson with :func:`~msci.losses.pearson_grad_hess`
    (scaled by the number of targets so Hessians are of order one, as XGBoost's regularisation
    defaults expect), starting from the training mean of each target. ``objective="squarederror"``
    is XGBoost's built-in loss. With an ``eval_set``, training stops when the last eval set's mean
    per-cell Pearson has not improved for ``early_stopping_rounds`` rounds and the best round predicts.
    """

    def __init__(self, objective: str = "pearson", n_estimators: int = 200, learning_rate: float = 0.3,
                 max_depth: int = 6, multi_strategy: str = "multi_output_tree", min_child_weight: float = 1.0,
                 reg_lambda: float = 1.0, subsample: float = 1.0, colsample_bytree: float = 1.0,
                 max_bin: int = 64, early_stopping_rounds: int | None = 5, n_jobs: int | None = None,
                 device: str = "auto", random_state: int = 0) -> None:
        self.objective = objective
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.multi_strategy = multi_strategy
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.max_bin = max_bin
        self.early_stopping_rounds = early_stopping_rounds
        self.n_jobs = n_jobs
        self.device = device
        self.random_state = random_state

    @property
    def stops_early(self) -> bool:
        """Whether an eval set would choose the number of rounds."""
        return bool(self.early_stopping_rounds)

    def _margin(self, n: int) -> np.ndarray:
        return np.tile(self.base_, (n, 1))

    def fit(self, X: np.ndarray, y: np.ndarray, eval_set=None) -> XGBoostRegressor:
        import xgboost as xgb

        y = np.asarray(y, dtype=np.float32)
        self.base_ = y.mean(axis=0)
        n_targets = y.shape[1]
        if self.objective == "pearson":
            objective = PearsonObjective(y, scale=n_targets)
        elif self.objective == "squarederror":
            objective = "reg:squarederror"
        else:
            raise ValueError(f"objective must be 'pearson' or 'squarederror', not {self.objective!r}")
        stop = self.early_stopping_rounds if eval_set else None
        self.device_ = _xgb_device(self.device)
        self.model_ = xgb.XGBRegressor(
            objective=objective, n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            max_depth=self.max_depth, multi_strategy=self.multi_strategy, min_child_weight=self.min_child_weight,
            reg_lambda=self.reg_lambda, subsample=self.subsample, colsample_bytree=self.colsample_bytree,
            max_bin=self.max_bin, tree_method="hist", device=self.device_, n_jobs=self.n_jobs,
            random_state=self.random_state, early_stopping_rounds=stop,
            eval_metric=_pearson_error,
        )
        sets = eval_triples(eval_set)
        kwargs = {}
        if sets:
            kwargs = {"eval_set": [(Xv, yv) for Xv, yv, _ in sets],
                      "base_margin_eval_set": [self._margin(len(Xv)) for Xv, _, _ in sets], "verbose": False}
            if any(w is not None for _, _, w in sets):
                kwargs["sample_weight_eval_set"] = [w if w is not None else np.ones(len(Xv)) for Xv, _, w in sets]
        t0 = time.perf_counter()
        self.model_.fit(X, y, base_margin=self._margin(len(X)), **kwargs)
        best = getattr(self.model_, "best_iteration", None)
        history = self.model_.evals_result() if sets else {}
        self.eval_history_ = [[1.0 - e for e in history[f"validation_{i}"]["_pearson_error"]] for i in range(len(sets))]
        self.fit_info_ = {"epochs": int(best + 1) if best is not None else self.n_estimators,
                          "device": self.device_, "train_seconds": time.perf_counter() - t0}
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(X, base_margin=self._margin(len(X))).astype(np.float32)

    def save(self, stem: str) -> None:
        """The booster in XGBoost's own format (``<stem>.ubj``, its best round kept) and the base margin
        (``<stem>.npz``)."""
        with atomic_path(f"{stem}.ubj") as tmp:
            self.model_.save_model(str(tmp.with_suffix(".ubj")))
            tmp.with_suffix(".ubj").replace(tmp)
        write_npz(f"{stem}.npz", base=self.base_)

    @classmethod
    def load(cls, stem: str, params: dict) -> XGBoostRegressor:
        import xgboost as xgb

        model = cls(**params)
        model.device_ = _xgb_device(model.device)
        model.model_ = xgb.XGBRegressor()
        model.model_.load_model(f"{stem}.ubj")
        model.model_.set_params(device=model.device_)
        with np.load(f"{stem}.npz") as z:
            model.base_ = z["base"]
        return model
