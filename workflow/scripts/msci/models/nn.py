"""Training loop of the neural models: Pearson loss, AdamW, one-cycle/cosine schedule, early stopping.

Inputs are scaled per column inside the estimator (so inside each CV fold): rank-gauss
(quantile → normal) by default. Early stopping watches the last eval set's mean per-cell Pearson
and restores the best epoch's weights, so test predictions come from the best checkpoint (the original
predicted the test set with the last epoch's weights). Seeds are fixed and CPU runs are deterministic.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.preprocessing import QuantileTransformer, StandardScaler

from msci.device import resolve_device
from msci.losses import pearson_loss
from msci.metrics import mean_row_pearson
from msci.models import eval_triples

log = logging.getLogger(__name__)


def make_scaler(kind: str, seed: int):
    if kind == "quantile":
        return QuantileTransformer(n_quantiles=1000, output_distribution="normal", subsample=100_000,
                                   random_state=seed)
    if kind == "standard":
        return StandardScaler()
    if kind == "none":
        return None
    raise ValueError(f"scaler must be quantile, standard or none, not {kind!r}")


class NeuralRegressor(RegressorMixin, BaseEstimator):
    """A torch network trained with the per-cell Pearson loss; subclasses choose the architecture."""

    def __init__(self, hidden: Sequence[int] = (512, 256), width: int = 512, n_blocks: int = 4,
                 hidden_size: int = 1024, channels: Sequence[int] = (128, 384), dropout: float = 0.1,
                 batch_norm: bool = True, weight_norm: bool = False, lr: float = 1e-3, weight_decay: float = 1e-4,
                 epochs: int = 30, batch_size: int = 256, schedule: str = "onecycle", patience: int = 5,
                 scaler: str = "quantile", device: str = "auto", random_state: int = 0,
                 n_jobs: int | None = None) -> None:
        self.hidden = hidden
        self.width = width
        self.n_blocks = n_blocks
        self.hidden_size = hidden_size
        self.channels = channels
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.weight_norm = weight_norm
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.schedule = schedule
        self.patience = patience
        self.scaler = scaler
        self.device = device
        self.random_state = random_state
        self.n_jobs = n_jobs

    @property
    def stops_early(self) -> bool:
        """Given an eval set, the best epoch on it is restored (whatever ``patience``)."""
        return True

    def _network(self, n_in: int, n_out: int):
        raise NotImplementedError

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return (self.scaler_.transform(X) if self.scaler_ is not None else X).astype(np.float32)

    def fit(self, X: np.ndarray, y: np.ndarray, eval_set=None) -> NeuralRegressor:
        import torch

        torch.manual_seed(self.random_state)
        if self.n_jobs:
            torch.set_num_threads(int(self.n_jobs))
        self.device_ = resolve_device(self.device)
        if self.device_ == "cpu":
            torch.use_deterministic_algorithms(True, warn_only=True)
        self.scaler_ = make_scaler(self.scaler, self.random_state)
        if self.scaler_ is not None:
            self.scaler_.fit(X)
        Xt = torch.tensor(self._scale(X), device=self.device_)
        yt = torch.tensor(np.asarray(y, dtype=np.float32), device=self.device_)
        sets = [(torch.tensor(self._scale(Xv), device=self.device_), yv, w) for Xv, yv, w in eval_triples(eval_set)]
        self.net_ = self._network(X.shape[1], y.shape[1]).to(self.device_)
        # BatchNorm's eval-time statistics: the plain average over the current epoch's batches (reset
        # each epoch), not a 0.1-momentum trace that a small dataset's few batches never bring close.
        norms = [m for m in self.net_.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        for m in norms:
            m.momentum = None
        opt = torch.optim.AdamW(self.net_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n = len(Xt)
        batch = min(self.batch_size, n)
        steps = max(1, n // batch)  # drop the last partial batch: BatchNorm needs > 1 row
        if self.schedule == "onecycle":
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=self.epochs * steps)
        elif self.schedule == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.epochs * steps)
        else:
            raise ValueError(f"schedule must be onecycle or cosine, not {self.schedule!r}")
        gen = torch.Generator(device="cpu").manual_seed(self.random_state)
        best, best_state, best_epoch, stale = -np.inf, None, 0, 0
        self.eval_history_: list[list[float]] = [[] for _ in sets]
        t0 = time.perf_counter()
        for epoch in range(self.epochs):
            self.net_.train()
            for m in norms:
                m.reset_running_stats()
            perm = torch.randperm(n, generator=gen).to(self.device_)
            total = 0.0
            for s in range(steps):
                idx = perm[s * batch: (s + 1) * batch]
                loss = pearson_loss(self.net_(Xt[idx]), yt[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item()
            for hist, (Xv, yv, w) in zip(self.eval_history_, sets, strict=True):
                hist.append(mean_row_pearson(yv, self._predict_scaled(Xv), w))
            score = self.eval_history_[-1][-1] if sets else -total / steps  # the last eval set stops
            improved = score > best
            if improved:
                best, best_epoch, stale = score, epoch + 1, 0
                best_state = copy.deepcopy(self.net_.state_dict())
            else:
                stale += 1
            log.info("epoch %d/%d: train loss %.4f%s (%.1f s)", epoch + 1, self.epochs, total / steps,
                     f", valid Pearson {score:.4f}{' *' if improved else ''}" if sets else "",
                     time.perf_counter() - t0)
            if sets and self.patience and stale >= self.patience:
                break
        if best_state is not None:
            self.net_.load_state_dict(best_state)
        self.fit_info_ = {"epochs": best_epoch, "epochs_run": epoch + 1, "device": self.device_,
                          "seconds_per_epoch": (time.perf_counter() - t0) / (epoch + 1)}
        return self

    def _predict_scaled(self, Xt) -> np.ndarray:
        import torch

        self.net_.eval()
        with torch.no_grad():
            parts = [self.net_(Xt[i: i + 4096]).float().cpu().numpy() for i in range(0, len(Xt), 4096)]
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    def predict(self, X: np.ndarray) -> np.ndarray:
        import torch

        return self._predict_scaled(torch.tensor(self._scale(X), device=self.device_))


class MLPRegressor(NeuralRegressor):
    """Plain MLP (``hidden`` widths)."""

    def _network(self, n_in: int, n_out: int):
        from msci.models.architectures import MLP

        return MLP(n_in, n_out, self.hidden, self.dropout, self.batch_norm, self.weight_norm)


class ResNetRegressor(NeuralRegressor):
    """MLP with dense skip connections (``width``, ``n_blocks``)."""

    def _network(self, n_in: int, n_out: int):
        from msci.models.architectures import ResNetMLP

        return ResNetMLP(n_in, n_out, self.width, self.n_blocks, self.dropout, self.batch_norm, self.weight_norm)


class CNN1DRegressor(NeuralRegressor):
    """The gated 1D-CNN (``hidden_size``, ``channels``)."""

    def _network(self, n_in: int, n_out: int):
        from msci.models.architectures import CNN1D

        return CNN1D(n_in, n_out, self.hidden_size, tuple(self.channels), self.dropout, self.batch_norm,
                     self.weight_norm)
