import numpy as np
import torch

from msci.losses import pearson_grad_hess, pearson_loss
from msci.metrics import row_pearson


def _loss(y, p):
    return float((1 - row_pearson(y, p)).sum())


def test_pearson_gradient_matches_finite_differences():
    rng = np.random.default_rng(0)
    y, p = rng.normal(size=(6, 9)), rng.normal(size=(6, 9))
    grad, hess = pearson_grad_hess(y, p)
    h = 1e-6
    fd = np.zeros_like(p)
    for i, j in np.ndindex(*p.shape):
        e = np.zeros_like(p)
        e[i, j] = h
        fd[i, j] = (_loss(y, p + e) - _loss(y, p - e)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)
    assert hess.shape == p.shape and (hess > 0).all()


def test_pearson_gradient_matches_torch_autograd_of_the_centred_loss():
    rng = np.random.default_rng(1)
    y, p = rng.normal(size=(40, 25)), rng.normal(size=(40, 25))
    pt = torch.tensor(p, requires_grad=True)
    (pearson_loss(pt, torch.tensor(y)) * len(p)).backward()  # pearson_loss is the mean over rows
    grad, _ = pearson_grad_hess(y, p)
    np.testing.assert_allclose(grad, pt.grad.numpy(), rtol=1e-6, atol=1e-9)


def test_pearson_loss_is_one_minus_the_metric_and_safe_for_constant_rows():
    rng = np.random.default_rng(2)
    y, p = rng.normal(size=(8, 5)), rng.normal(size=(8, 5))
    p[3] = 1.0
    loss = pearson_loss(torch.tensor(p, requires_grad=True), torch.tensor(y))
    assert np.isclose(loss.item(), 1 - row_pearson(y, p).mean(), atol=1e-6)
    loss.backward()  # finite gradient even through the constant row
    grad, _ = pearson_grad_hess(y, p)
    assert np.isfinite(grad).all()


def test_hessian_is_the_curvature_at_the_optimum_along_a_rotation():
    # Along a rotation away from the optimum, 1 − r grows like θ²/2 with θ = step/|a|.
    rng = np.random.default_rng(3)
    y = rng.normal(size=(1, 50))
    a = y - y.mean()
    d = rng.normal(size=(1, 50))
    d -= d.mean()
    d -= (d @ a.T) / (a @ a.T) * a  # tangent direction
    d /= np.linalg.norm(d)
    step = 1e-3
    curvature = 2 * _loss(y, y + step * d) / step**2
    _, hess = pearson_grad_hess(y, y)
    assert np.isclose(curvature, hess[0, 0], rtol=1e-3)


def test_cached_objective_equals_the_function():
    from msci.losses import PearsonObjective

    rng = np.random.default_rng(4)
    y, p = rng.normal(size=(30, 12)).astype(np.float32), rng.normal(size=(30, 12)).astype(np.float32)
    g1, h1 = PearsonObjective(y, scale=12)(y, p)
    g2, h2 = pearson_grad_hess(y, p, scale=12)
    assert g1.dtype == np.float32
    np.testing.assert_allclose(g1, g2, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(h1, h2, rtol=1e-5)
