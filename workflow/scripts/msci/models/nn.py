"""Training loop of the neural models: Pearson loss, AdamW, one-cycle/cosine schedule, early stopping.

Inputs are scaled per column inside the estimator (so inside each CV fold): rank-gauss
(quantile → normal) by default. Early stopping watches the last eval set's mean per-cell Pearson
and restores the best epoch's weights, so test predictions come from the best checkpoint (the original
predicted the test set with the last epoch's weights). ``n_bags`` networks with different seeds are
trained on the same cells and averaged (small data: averaging removes much of a network's
seed-to-seed variance). ``mse_weight`` adds a scale-free squared error to the Pearson loss, which
regularises the outputs' per-cell level that Pearson ignores. Seeds are fixed and CPU runs are
deterministic.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.preprocessing import QuantileTransformer, StandardScaler

from msci.device import resolve_device
from msci.io.artifacts import write_json
from msci.io.fitted import load_sklearn, load_state_dicts, save_sklearn, save_state_dicts
from msci.losses import pearson_loss
from msci.metrics import mean_row_pearson
from msci.models import eval_triples
from msci.models.registry import register

log = logging.getLogger(__name__)
_BAG_SEED_STEP = 7919  # bag b trains with seed random_state + b · step (bag 0: the model's own seed)


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
    """A torch network trained with the per-cell Pearson loss: the one training loop of every architecture.

    Subclasses list their architecture's parameters and the training ones (sklearn's ``get_params``
    reads each subclass's own ``__init__``); their defaults are the parameters' one home.
    """

    def _set_training(self, lr: float, weight_decay: float, epochs: int, batch_size: int, schedule: str,
                      patience: int, mse_weight: float, n_bags: int, scaler: str, device: str, random_state: int,
                      n_jobs: int | None) -> None:
        """Store the training parameters every architecture shares (one place, not one per subclass)."""
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.schedule = schedule
        self.patience = patience
        self.mse_weight = mse_weight
        self.n_bags = n_bags
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
        self.n_in_, self.n_out_ = int(Xt.shape[1]), int(yt.shape[1])
        sets = [(torch.tensor(self._scale(Xv), device=self.device_), yv, w) for Xv, yv, w in eval_triples(eval_set)]
        # Per eval set: the sum over bags of each bag's predictions at its best epoch on that set.
        best_sums = [np.zeros(yv.shape, np.float64) for _, yv, _ in sets]
        self.nets_, histories, infos = [], [], []
        t0 = time.perf_counter()
        for b in range(int(self.n_bags)):
            net, history, info = self._fit_one(Xt, yt, sets, best_sums, self.random_state + _BAG_SEED_STEP * b)
            self.nets_.append(net)
            histories.append(history)
            infos.append(info)
            if self.n_bags > 1:
                log.info("bag %d/%d: best epoch %d of %d", b + 1, self.n_bags, info["epochs"], info["epochs_run"])
        self.eval_history_ = histories[0]
        self.eval_best_ = [mean_row_pearson(yv, s / self.n_bags, w) for s, (_, yv, w) in zip(best_sums, sets,
                                                                                            strict=True)]
        runs = sum(i["epochs_run"] for i in infos)
        epochs = [i["epochs"] for i in infos]
        self.fit_info_ = {"epochs": epochs[0] if len(epochs) == 1 else epochs, "epochs_run": runs,
                          "device": self.device_, "seconds_per_epoch": (time.perf_counter() - t0) / runs}
        return self

    def _fit_one(self, Xt, yt, sets, best_sums: list[np.ndarray], seed: int):
        """Train one network; returns it (best epoch restored), its eval history and fit info.

        Adds to ``best_sums[i]`` its predictions of set ``i`` at the epoch that scored best on set ``i``.
        """
        import torch

        torch.manual_seed(seed)
        net = self._network(Xt.shape[1], yt.shape[1]).to(self.device_)
        # BatchNorm's eval-time statistics: the plain average over the current epoch's batches (reset
        # each epoch), not a 0.1-momentum trace that a small dataset's few batches never bring close.
        norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        for m in norms:
            m.momentum = None
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n = len(Xt)
        batch = min(self.batch_size, n)
        steps = max(1, n // batch)  # drop the last partial batch: BatchNorm needs > 1 row
        if self.schedule == "onecycle":
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=self.epochs * steps)
        elif self.schedule == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.epochs * steps)
        else:
            raise ValueError(f"schedule must be onecycle or cosine, not {self.schedule!r}")
        gen = torch.Generator(device="cpu").manual_seed(seed)
        best, best_state, best_epoch, stale = -np.inf, None, 0, 0
        history: list[list[float]] = [[] for _ in sets]
        best_preds: list[np.ndarray | None] = [None for _ in sets]
        t0 = time.perf_counter()
        for epoch in range(self.epochs):
            net.train()
            for m in norms:
                m.reset_running_stats()
            perm = torch.randperm(n, generator=gen).to(self.device_)
            total = 0.0
            for s in range(steps):
                idx = perm[s * batch: (s + 1) * batch]
                loss = pearson_loss(net(Xt[idx]), yt[idx], self.mse_weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item()
            for i, (Xv, yv, w) in enumerate(sets):
                pred = _predict_net(net, Xv)
                history[i].append(mean_row_pearson(yv, pred, w))
                if history[i][-1] >= max(history[i]):
                    best_preds[i] = pred
            score = history[-1][-1] if sets else -total / steps  # the last eval set stops
            improved = score > best
            if improved:
                best, best_epoch, stale = score, epoch + 1, 0
                best_state = copy.deepcopy(net.state_dict())
            else:
                stale += 1
            log.info("epoch %d/%d: train loss %.4f%s (%.1f s)", epoch + 1, self.epochs, total / steps,
                     f", valid Pearson {score:.4f}{' *' if improved else ''}" if sets else "",
                     time.perf_counter() - t0)
            if sets and self.patience and stale >= self.patience:
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        for acc, pred in zip(best_sums, best_preds, strict=True):
            acc += pred
        return net, history, {"epochs": best_epoch, "epochs_run": epoch + 1}

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The mean over bags of each network's predictions."""
        import torch

        Xt = torch.tensor(self._scale(X), device=self.device_)
        out = _predict_net(self.nets_[0], Xt)
        for net in self.nets_[1:]:
            out += _predict_net(net, Xt)
        return out / len(self.nets_) if len(self.nets_) > 1 else out

    def save(self, stem: str) -> None:
        """Every bag's network as ``state_dict``s (``<stem>.pt``), the input scaler as ``<stem>.scaler.skops`` and
        the layer sizes as ``<stem>.json``."""
        save_state_dicts([{k: v.cpu() for k, v in net.state_dict().items()} for net in self.nets_], f"{stem}.pt")
        if self.scaler_ is not None:
            save_sklearn(self.scaler_, f"{stem}.scaler.skops")
        write_json({"n_in": self.n_in_, "n_out": self.n_out_}, f"{stem}.json")

    @classmethod
    def load(cls, stem: str, params: dict) -> NeuralRegressor:
        """A fitted model from :meth:`save`, on the device ``params`` ask for (CUDA when present by default)."""
        model = cls(**params)
        sizes = json.loads(Path(f"{stem}.json").read_text())
        model.n_in_, model.n_out_ = sizes["n_in"], sizes["n_out"]
        model.device_ = resolve_device(model.device)
        model.scaler_ = load_sklearn(f"{stem}.scaler.skops") if model.scaler != "none" else None
        model.nets_ = []
        for state in load_state_dicts(f"{stem}.pt"):
            net = model._network(model.n_in_, model.n_out_)
            net.load_state_dict(state)
            model.nets_.append(net.to(model.device_))
        return model


def _predict_net(net, Xt) -> np.ndarray:
    """One network's predictions (eval mode, no gradients, in row blocks) as float32 numpy."""
    import torch

    net.eval()
    with torch.no_grad():
        parts = [net(Xt[i: i + 4096]).float().cpu().numpy() for i in range(0, len(Xt), 4096)]
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


@register("mlp", gpu=True, libraries=("torch",))
class MLPRegressor(NeuralRegressor):
    """Plain MLP (``hidden`` widths)."""

    def __init__(self, hidden: Sequence[int] = (512, 256), dropout: float = 0.1, batch_norm: bool = True,
                 weight_norm: bool = False, lr: float = 3e-3, weight_decay: float = 1e-4, epochs: int = 40,
                 batch_size: int = 256, schedule: str = "onecycle", patience: int = 8, mse_weight: float = 0.0,
                 n_bags: int = 3, scaler: str = "quantile", device: str = "auto", random_state: int = 0,
                 n_jobs: int | None = None) -> None:
        self.hidden = hidden
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.weight_norm = weight_norm
        self._set_training(lr, weight_decay, epochs, batch_size, schedule, patience, mse_weight, n_bags, scaler,
                           device, random_state, n_jobs)

    def _network(self, n_in: int, n_out: int):
        from msci.models.architectures import MLP

        return MLP(n_in, n_out, self.hidden, self.dropout, self.batch_norm, self.weight_norm)


@register("resnet", gpu=True, libraries=("torch",))
class ResNetRegressor(NeuralRegressor):
    """MLP with dense skip connections (``width``, ``n_blocks``)."""

    def __init__(self, width: int = 256, n_blocks: int = 4, dropout: float = 0.1, batch_norm: bool = True,
                 weight_norm: bool = False, lr: float = 1e-3, weight_decay: float = 1e-4, epochs: int = 30,
                 batch_size: int = 256, schedule: str = "onecycle", patience: int = 5, mse_weight: float = 0.0,
                 n_bags: int = 3, scaler: str = "quantile", device: str = "auto", random_state: int = 0,
                 n_jobs: int | None = None) -> None:
        self.width = width
        self.n_blocks = n_blocks
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.weight_norm = weight_norm
        self._set_training(lr, weight_decay, epochs, batch_size, schedule, patience, mse_weight, n_bags, scaler,
                           device, random_state, n_jobs)

    def _network(self, n_in: int, n_out: int):
        from msci.models.architectures import ResNetMLP

        return ResNetMLP(n_in, n_out, self.width, self.n_blocks, self.dropout, self.batch_norm, self.weight_norm)


@register("cnn1d", gpu=True, libraries=("torch",))
class CNN1DRegressor(NeuralRegressor):
    """The gated 1D-CNN (``hidden_size``, ``channels``)."""

    def __init__(self, hidden_size: int = 1024, channels: Sequence[int] = (128, 384), dropout: float = 0.1,
                 batch_norm: bool = True, weight_norm: bool = True, lr: float = 3e-3, weight_decay: float = 1e-4,
                 epochs: int = 20, batch_size: int = 256, schedule: str = "onecycle", patience: int = 4,
                 mse_weight: float = 0.0, n_bags: int = 1, scaler: str = "quantile", device: str = "auto",
                 random_state: int = 0, n_jobs: int | None = None) -> None:
        self.hidden_size = hidden_size
        self.channels = channels
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.weight_norm = weight_norm
        self._set_training(lr, weight_decay, epochs, batch_size, schedule, patience, mse_weight, n_bags, scaler,
                           device, random_state, n_jobs)

    def _network(self, n_in: int, n_out: int):
        from msci.models.architectures import CNN1D

        return CNN1D(n_in, n_out, self.hidden_size, tuple(self.channels), self.dropout, self.batch_norm,
                     self.weight_norm)
