"""The field's strongest simple methods (openproblems predict_modality): kernel ridge and nearest neighbours.

``krr``: Guanlab-dengkw's NeurIPS 2021 kernel ridge. Each cell's features are z-scored across the cell
(``row_standardize``), then an RBF kernel ridge (length scale ``length_scale``) maps them to the targets. Exact up
to ``max_exact`` training cells; beyond, a Nyström approximation of the kernel with ``n_components`` landmark cells
and a ridge without intercept on it (the kernel ridge's own solution when every cell is a landmark), so memory
stays bounded at the competition's 70,988 and 105,942 training cells. ``n_bags`` > 0: Guanlab's bagging, each bag
splitting the training batches (donor × day, the ``groups`` of ``fit``) at random into two halves, one model per
half, the ``2 × n_bags`` models' predictions averaged (halves of the cells at random where there is one batch).
``tune``: the length scale and alpha picked on the training cells themselves, by exact leave-one-out: the RBF
width that suits per-cell z-scored features grows as √(number of features) (Guanlab's 10 was set for 300 RNA
components), so a fixed length scale is only right at the width it was tuned for.

``knn``: the mean targets of each cell's ``n_neighbors`` nearest training cells (Euclidean, on standardised features).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.kernel_approximation import Nystroem
from sklearn.kernel_ridge import KernelRidge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from msci.io.fitted import SkopsSaved
from msci.metrics import row_pearson, row_standardize
from msci.models.registry import register

PREDICT_ROWS = 4096  # cells per prediction block
# ``tune``'s grid: length scales as multiples of √(features), steps of √2 (Guanlab's: 0.58 for RNA, 1.0 for ATAC;
# the real CITE subset picked 0.125), and alphas.
TUNE_SCALES = (0.09, 0.125, 0.18, 0.25, 0.35, 0.5, 0.7, 1.0, 1.4, 2.0, 2.8)
TUNE_ALPHAS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def predict_in_blocks(predict, X: np.ndarray) -> np.ndarray:
    """``predict`` applied to blocks of ``PREDICT_ROWS`` cells: what it holds per cell predicted stays bounded."""
    blocks = [predict(X[s:s + PREDICT_ROWS]) for s in range(0, len(X), PREDICT_ROWS)]
    return np.concatenate(blocks) if blocks else predict(X)


def loo_scores(Z: np.ndarray, y: np.ndarray, length_scales, alphas) -> dict[tuple[float, float], float]:
    """Mean per-cell Pearson of an exact RBF kernel ridge's leave-one-out predictions, per (length scale, alpha):
    one eigendecomposition per length scale serves every alpha (the hat matrix's diagonal gives each cell's own)."""
    Z, y = np.asarray(Z, np.float64), np.asarray(y, np.float64)
    sq = (Z * Z).sum(axis=1)
    dist = np.maximum(sq[:, None] + sq[None, :] - 2.0 * Z @ Z.T, 0.0)
    out = {}
    for length_scale in length_scales:
        lam, Q = linalg.eigh(np.exp(-dist / (2.0 * length_scale ** 2)))
        Qy = Q.T @ y
        for alpha in alphas:
            shrink = lam / (lam + alpha)
            fitted = Q @ (shrink[:, None] * Qy)
            leverage = (Q * Q) @ shrink
            loo = y - (y - fitted) / (1.0 - leverage)[:, None]
            out[(float(length_scale), float(alpha))] = float(row_pearson(y, loo).mean())
    return out


class NystroemRidge(RegressorMixin, BaseEstimator):
    """Ridge (no intercept) on a Nyström map, its normal equations summed over row blocks: the map's
    ``n × n_components`` matrix is never whole in memory (Multiome: 105,942 × 4000 would be 3.4 GB)."""

    def __init__(self, nystroem: Nystroem | None = None, alpha: float = 1.0, block_rows: int = 4096) -> None:
        self.nystroem = nystroem
        self.alpha = alpha
        self.block_rows = block_rows

    def _blocks(self, n: int):
        return (slice(s, min(s + self.block_rows, n)) for s in range(0, n, self.block_rows))

    def fit(self, X: np.ndarray, y: np.ndarray) -> NystroemRidge:
        self.map_ = clone(self.nystroem).fit(X)  # its landmark cells only
        m = self.map_.components_.shape[0]
        gram, cross = np.zeros((m, m)), np.zeros((m, y.shape[1]))
        for rows in self._blocks(len(X)):
            phi = np.asarray(self.map_.transform(X[rows]), np.float64)  # the sums in float64: α leaves them ill-posed
            gram += phi.T @ phi
            cross += phi.T @ y[rows]
        gram[np.diag_indices(m)] += self.alpha
        self.coef_ = np.asarray(linalg.solve(gram, cross, assume_a="pos"), np.float32)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        out = np.empty((len(X), self.coef_.shape[1]), np.float32)
        for rows in self._blocks(len(X)):
            out[rows] = self.map_.transform(X[rows]) @ self.coef_
        return out


@register("krr")
class KernelRidgeRegressor(SkopsSaved, RegressorMixin, BaseEstimator):
    """RBF kernel ridge on per-cell z-scored features; Nyström beyond ``max_exact`` training cells."""

    def __init__(self, alpha: float = 0.2, length_scale: float = 10.0, row_standardize: bool = True,
                 max_exact: int = 10_000, n_components: int = 4000, n_bags: int = 0, tune: bool = False,
                 tune_cells: int = 3000, random_state: int | None = 0) -> None:
        self.alpha = alpha
        self.length_scale = length_scale
        self.row_standardize = row_standardize
        self.max_exact = max_exact
        self.n_components = n_components
        self.n_bags = n_bags
        self.tune = tune
        self.tune_cells = tune_cells
        self.random_state = random_state

    def _model(self, n: int, seed: int | None):
        """An unfitted pipeline for ``n`` training cells: exact up to ``max_exact``, Nyström beyond."""
        gamma = 1.0 / (2.0 * self.length_scale_ ** 2)
        prepare = FunctionTransformer(row_standardize if self.row_standardize else None)
        if n <= self.max_exact:
            return make_pipeline(prepare, KernelRidge(alpha=self.alpha_, kernel="rbf", gamma=gamma))
        nystroem = Nystroem(kernel="rbf", gamma=gamma, n_components=min(self.n_components, n), random_state=seed)
        return make_pipeline(prepare, NystroemRidge(nystroem, alpha=self.alpha_))

    def _tuned(self, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """The grid's (length scale, alpha) with the best leave-one-out score on up to ``tune_cells`` training cells."""
        rows = np.random.default_rng(self.random_state).permutation(len(X))[:self.tune_cells]
        Z = row_standardize(X[rows]) if self.row_standardize else X[rows]
        scores = loo_scores(Z, y[rows], [s * np.sqrt(X.shape[1]) for s in TUNE_SCALES], TUNE_ALPHAS)
        return max(scores, key=scores.get)

    def halves(self, groups: np.ndarray | None, n: int) -> list[np.ndarray]:
        """The bags' training rows: per bag, the cells of a random half of the batches and of the other half."""
        rng = np.random.default_rng(self.random_state)
        labels = np.unique(groups, return_inverse=True)[1] if groups is not None else np.zeros(n, int)
        n_groups = labels.max() + 1
        out = []
        for _ in range(self.n_bags):
            side = (rng.permutation(n_groups) < n_groups // 2)[labels] if n_groups > 1 else rng.random(n) < 0.5
            out += [np.flatnonzero(side), np.flatnonzero(~side)]
        return [rows for rows in out if len(rows)]

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None) -> KernelRidgeRegressor:
        X, y = np.asarray(X, np.float32), np.asarray(y, np.float32)
        self.length_scale_, self.alpha_ = self._tuned(X, y) if self.tune else (self.length_scale, self.alpha)
        self.fit_info_ = {"length_scale": self.length_scale_, "alpha": self.alpha_}
        if self.n_bags < 1:
            self.models_ = [self._model(len(X), self.random_state).fit(X, y)]
            return self
        self.models_ = [self._model(len(rows), None if self.random_state is None else self.random_state + i)
                        .fit(X[rows], y[rows]) for i, rows in enumerate(self.halves(groups, len(X)))]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The models' mean prediction, in row blocks: an exact model's kernel against the training cells is
        ``PREDICT_ROWS × max_exact`` at most, whatever the number of cells predicted."""
        if not hasattr(self, "models_"):
            raise ValueError("this kernel ridge was saved by an older msci; rerun the training run to refit it")
        return predict_in_blocks(self._predict_block, np.asarray(X, np.float32))

    def _predict_block(self, X: np.ndarray) -> np.ndarray:
        return (sum(np.asarray(m.predict(X), np.float64) for m in self.models_) / len(self.models_)).astype(np.float32)


@register("knn")
class KNNRegressor(SkopsSaved, RegressorMixin, BaseEstimator):
    """Mean targets of each cell's nearest training cells, on standardised features."""

    def __init__(self, n_neighbors: int = 100, weights: str = "uniform", standardize: bool = True,
                 n_jobs: int | None = None) -> None:
        self.n_neighbors = n_neighbors
        self.weights = weights
        self.standardize = standardize
        self.n_jobs = n_jobs

    def fit(self, X: np.ndarray, y: np.ndarray) -> KNNRegressor:
        X = np.asarray(X, np.float32)
        knn = KNeighborsRegressor(n_neighbors=min(self.n_neighbors, len(X)), weights=self.weights,
                                  n_jobs=self.n_jobs)
        self.model_ = make_pipeline(StandardScaler(), knn) if self.standardize else make_pipeline(knn)
        self.model_.fit(X, np.asarray(y, np.float32))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """In blocks of cells: the neighbours' targets (cells × neighbours × targets) are gathered per block."""
        return predict_in_blocks(lambda b: np.asarray(self.model_.predict(b), np.float32), np.asarray(X, np.float32))
