"""Partial least squares: every target predicted through a few latent components fitted to covary with them.

Between ridge (all input directions, shrunk) and the SVD features (directions chosen without the targets): PLS
picks the input directions that explain the targets, the classic multi-output linear model of chemometrics.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.cross_decomposition import PLSRegression

from msci.io.fitted import SkopsSaved
from msci.models.registry import register


@register("pls")
class PLSRegressor(SkopsSaved, RegressorMixin, BaseEstimator):
    """Multi-output PLS regression (scikit-learn's ``PLSRegression``, NIPALS).

    Parameters
    ----------
    n_components
        Latent components; at most the number of features and of training cells less one.
    scale
        Standardise inputs and targets before fitting (predictions are in the targets' units either way).
    max_iter
        NIPALS iterations per component.

    Examples
    --------
    >>> model = PLSRegressor(n_components=8).fit(X, Y)   # doctest: +SKIP
    >>> model.predict(X_new).shape                        # doctest: +SKIP
    (n_new, n_targets)
    """

    def __init__(self, n_components: int = 32, scale: bool = True, max_iter: int = 500) -> None:
        self.n_components = n_components
        self.scale = scale
        self.max_iter = max_iter

    def fit(self, X: np.ndarray, y: np.ndarray) -> PLSRegressor:
        """Fit on ``X`` (cells × features) and ``y`` (cells × targets)."""
        k = max(1, min(self.n_components, X.shape[1], X.shape[0] - 1))
        self.pls_ = PLSRegression(n_components=k, scale=self.scale, max_iter=self.max_iter).fit(X, y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Cells × targets, float32."""
        return np.asarray(self.pls_.predict(X), np.float32).reshape(len(X), -1)
