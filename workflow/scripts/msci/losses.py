"""Training losses built on the per-cell Pearson metric (see ``metrics.py``).

``pearson_grad_hess`` is the analytic gradient and Hessian diagonal of Σ_cells (1 − r_cell) for
XGBoost; ``pearson_loss`` is the same loss (mean over cells) as a differentiable torch function for
the neural models. Both centre each row: Pearson, not the cosine the original solution used.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-8


def _centred_unit_rows(y: np.ndarray, dtype) -> np.ndarray:
    """Rows centred and scaled to unit norm (zero rows stay zero)."""
    b = np.asarray(y, dtype=dtype)
    b = b - b.mean(axis=1, keepdims=True)
    nb = np.maximum(np.sqrt(np.einsum("ij,ij->i", b, b)), EPS)
    return b / nb[:, None]


def _grad_hess(b_hat: np.ndarray, y_pred: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(y_pred, dtype=b_hat.dtype).reshape(b_hat.shape)
    a = p - p.mean(axis=1, keepdims=True)
    na = np.maximum(np.sqrt(np.einsum("ij,ij->i", a, a)), EPS)
    r = np.einsum("ij,ij->i", a, b_hat) / na
    # grad = scale · (r·â − b̂)/|a|, written as two row-scaled terms to limit temporaries.
    grad = a * (scale * r / na**2)[:, None]
    grad -= b_hat * (scale / na)[:, None]
    hess = np.repeat((scale / na**2)[:, None], p.shape[1], axis=1)
    return grad, hess


def pearson_grad_hess(y_true: np.ndarray, y_pred: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian diagonal of ``scale · Σ_i (1 − r_i)`` w.r.t. every prediction.

    With ``a`` the centred prediction row, ``â = a/|a|`` and ``b̂`` the centred, normalised truth
    row, ``∂(1 − r)/∂pred = −(b̂ − r·â)/|a|`` (exact, vectorised over the matrix). The Hessian is
    the loss's curvature at its optimum, ``1/|a|²`` per element (the tangent curvature of
    ``1 − cos θ``; it ignores terms of order 1/n_targets), so each Newton step turns a row of
    predictions toward its target profile by an amount proportional to the angle between them,
    where the original's Hessian of ones took steps of order ``1/|a|`` whatever the angle.
    Float32 input is computed in float32 (XGBoost's margins), anything else in float64.
    """
    p = np.asarray(y_pred)
    dtype = np.result_type(p.dtype, np.float32)
    return _grad_hess(_centred_unit_rows(np.asarray(y_true).reshape(p.shape), dtype), p, scale)


class PearsonObjective:
    """:func:`pearson_grad_hess` for a fixed truth matrix, as an XGBoost objective.

    The truth never changes between boosting rounds, so its centred unit rows are computed once.
    """

    def __init__(self, y_true: np.ndarray, scale: float = 1.0, dtype=np.float32) -> None:
        self.b_hat = _centred_unit_rows(y_true, dtype)
        self.scale = scale

    def __call__(self, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if np.size(y_true) != self.b_hat.size:
            raise ValueError("PearsonObjective called with another truth matrix than it was built for")
        return _grad_hess(self.b_hat, y_pred, self.scale)


def pearson_loss(pred, target, mse_weight: float = 0.0):
    """1 − mean per-row Pearson of two torch tensors (n × d); safe for constant rows.

    ``mse_weight`` > 0 adds that multiple of the squared error relative to the targets' mean square
    (scale-free, so the weight means the same for any target units).
    """
    import torch

    p = pred - pred.mean(dim=1, keepdim=True)
    t = target - target.mean(dim=1, keepdim=True)
    num = (p * t).sum(dim=1)
    den = torch.sqrt((p * p).sum(dim=1) * (t * t).sum(dim=1) + EPS)
    loss = 1.0 - (num / den).mean()
    if mse_weight:
        loss = loss + mse_weight * ((pred - target) ** 2).mean() / ((target * target).mean() + EPS)
    return loss
