"""Ridge regression on standardised features: the baseline every other model must beat."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from msci.io.fitted import SkopsSaved
from msci.models.registry import register


@register("ridge")
class RidgeRegressor(SkopsSaved, RegressorMixin, BaseEstimator):
    """Multi-output ridge on standardised inputs (all targets in one solve)."""

    def __init__(self, alpha: float = 10.0, standardize: bool = True) -> None:
        self.alpha = alpha
        self.standardize = standardize

    def fit(self, X: np.ndarray, y: np.ndarray) -> RidgeRegressor:
        self.scaler_ = StandardScaler().fit(X) if self.standardize else None
        self.ridge_ = Ridge(alpha=self.alpha).fit(self._scale(X), y)
        return self

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return self.scaler_.transform(X) if self.scaler_ is not None else X

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.ridge_.predict(self._scale(X)).astype(np.float32)
