"""TabNet (pytorch-tabnet) with the Pearson loss, optionally from an unsupervised pre-trained encoder.

Pre-training (``TabNetPretrainer`` on train + test rows) is its own cached artifact, made once by
the ``tabnet_pretrain`` rule and reused by every fold and by every rerun of the regressor.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from msci.device import resolve_device
from msci.io.artifacts import atomic_path
from msci.losses import pearson_loss
from msci.metrics import mean_row_pearson
from msci.models import eval_triples
from msci.models.registry import register

# (targets, scale) of each eval set of the fit running now. TabNet finds metric classes by name among
# all subclasses of its Metric, so there is one Pearson class, which reads the sets from here.
_EVAL_SETS: list[tuple[np.ndarray, np.ndarray | None]] = []


@functools.cache
def _pearson_metric():
    """TabNet metric class: mean per-cell Pearson, each cell's scaled by its eval set's ``scale``.

    TabNet calls metrics with the targets only, so the set (and its scale) is found by its targets.
    """
    from pytorch_tabnet.metrics import Metric

    class PearsonMetric(Metric):
        def __init__(self):
            self._name = "pearson"
            self._maximize = True

        def __call__(self, y_true, y_score):
            match = [w for yv, w in _EVAL_SETS if yv.shape == y_true.shape and np.array_equal(yv, y_true)]
            if not match:
                raise RuntimeError("TabNet scored targets that are none of its eval sets'")
            return mean_row_pearson(y_true, y_score, match[0])

    return PearsonMetric


def _watcher(sets):
    """A TabNet callback scoring watched eval sets after each epoch, without touching the random state
    (a TabNet eval set would: each DataLoader pass draws a seed, which would change the training)."""
    import torch
    from pytorch_tabnet.callbacks import Callback

    class Watch(Callback):
        def __init__(self):
            super().__init__()
            self.history = [[] for _ in sets]

        def on_epoch_end(self, epoch, logs=None):
            with torch.random.fork_rng(devices=[]):
                for hist, (Xv, yv, w) in zip(self.history, sets, strict=True):
                    hist.append(mean_row_pearson(yv, self.trainer.predict(Xv), w))

    return Watch()


def _tabnet_kwargs(n_d, n_a, n_steps, gamma, lr, device, seed) -> dict:
    import torch

    return dict(n_d=n_d, n_a=n_a, n_steps=n_steps, gamma=gamma, optimizer_fn=torch.optim.Adam,
                optimizer_params={"lr": lr}, device_name=resolve_device(device), seed=seed, verbose=0)


@register("tabnet", gpu=True, libraries=("torch", "pytorch-tabnet"))
class TabNetModel(RegressorMixin, BaseEstimator):
    """``TabNetRegressor`` trained with the per-cell Pearson loss, early-stopped on per-cell Pearson."""

    def __init__(self, n_d: int = 32, n_a: int = 32, n_steps: int = 1, gamma: float = 1.3, lr: float = 0.04,
                 epochs: int = 60, patience: int = 15, batch_size: int = 128, virtual_batch_size: int = 64,
                 pretrainer_path: str | None = None, device: str = "auto", random_state: int = 0) -> None:
        self.n_d = n_d
        self.n_a = n_a
        self.n_steps = n_steps
        self.gamma = gamma
        self.lr = lr
        self.epochs = epochs
        self.patience = patience
        self.batch_size = batch_size
        self.virtual_batch_size = virtual_batch_size
        self.pretrainer_path = pretrainer_path
        self.device = device
        self.random_state = random_state

    @property
    def stops_early(self) -> bool:
        """Whether an eval set would choose the epoch (TabNet restores the best one when ``patience`` > 0)."""
        return self.patience > 0

    def fit(self, X: np.ndarray, y: np.ndarray, eval_set=None) -> TabNetModel:
        from pytorch_tabnet.tab_model import TabNetRegressor

        pretrainer = None
        if self.pretrainer_path:
            from pytorch_tabnet.pretraining import TabNetPretrainer

            pretrainer = TabNetPretrainer()
            pretrainer.load_model(self.pretrainer_path)
        import torch

        kw = _tabnet_kwargs(self.n_d, self.n_a, self.n_steps, self.gamma, self.lr, self.device, self.random_state)
        self.device_ = kw["device_name"]
        batch = min(self.batch_size, len(X))
        # One-cycle learning rate over the whole run (stepped per batch): a stable end of training, so
        # early stopping on the noisy per-epoch validation score does not stop in a bad spot.
        # A last batch of one row cannot be batch-normalised in training: drop it (the others stay).
        drop_last = len(X) > batch and len(X) % batch == 1
        steps = len(X) // batch if drop_last else -(-len(X) // batch)
        kw.update(scheduler_fn=torch.optim.lr_scheduler.OneCycleLR,
                  scheduler_params={"max_lr": self.lr, "epochs": self.epochs, "steps_per_epoch": steps,
                                    "is_batch_level": True})
        self.model_ = TabNetRegressor(**kw)
        sets = [(np.asarray(Xv, np.float32), yv, w) for Xv, yv, w in eval_triples(eval_set)]
        fit_kw, watch = {}, None
        if sets:  # TabNet evaluates and stops on the last set; the others are only watched
            watch = _watcher(sets[:-1])
            fit_kw = {"eval_set": [sets[-1][:2]], "eval_name": ["stop"], "eval_metric": [_pearson_metric()],
                      "patience": self.patience, "callbacks": [watch]}
        t0 = time.perf_counter()
        _EVAL_SETS[:] = [(yv, w) for _, yv, w in sets[-1:]]
        try:
            self.model_.fit(np.asarray(X, np.float32), np.asarray(y, np.float32), loss_fn=pearson_loss,
                            max_epochs=self.epochs, batch_size=batch,
                            virtual_batch_size=min(self.virtual_batch_size, batch),
                            drop_last=drop_last, from_unsupervised=pretrainer, **fit_kw)
        finally:
            _EVAL_SETS.clear()
        stop_history = list(map(float, self.model_.history.history.get("stop_pearson", [])))
        self.eval_history_ = [*watch.history, stop_history] if sets else []
        history = self.eval_history_[-1] if sets else []
        self.fit_info_ = {"epochs": int(np.argmax(history)) + 1 if history else self.epochs,
                          "device": self.device_, "train_seconds": time.perf_counter() - t0,
                          "pretrained": pretrainer is not None}
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.model_.predict(np.asarray(X, np.float32)).astype(np.float32)

    def save(self, stem: str) -> None:
        """The fitted network in pytorch-tabnet's own format, ``<stem>.zip``."""
        with atomic_path(f"{stem}.zip") as tmp:
            written = self.model_.save_model(str(tmp.with_suffix("")))  # TabNet adds ".zip"
            Path(written).replace(tmp)

    @classmethod
    def load(cls, stem: str, params: dict) -> TabNetModel:
        from pytorch_tabnet.tab_model import TabNetRegressor

        model = cls(**{k: v for k, v in params.items() if k != "pretrainer_path"})
        model.model_ = TabNetRegressor(device_name=resolve_device(model.device))
        model.model_.load_model(f"{stem}.zip")
        return model


# The architecture a pre-training builds by default: the fine-tuned model's, whose defaults are its one home.
_MODEL = TabNetModel()


def pretrain_tabnet(X: np.ndarray, out_path: str, n_d: int = _MODEL.n_d, n_a: int = _MODEL.n_a,
                    n_steps: int = _MODEL.n_steps, gamma: float = _MODEL.gamma, lr: float = 2e-2, epochs: int = 50,
                    patience: int = 5, batch_size: int = 1024, pretraining_ratio: float = 0.5,
                    device: str = _MODEL.device, seed: int = 0, valid_fraction: float = 0.1) -> str:
    """Fit an unsupervised ``TabNetPretrainer`` on ``X`` (train + test rows); save it to ``out_path`` (.zip).

    The architecture (``n_d`` … ``gamma``) must be the fine-tuned model's: the workflow passes the model's
    configured values, and what it leaves out defaults to :class:`TabNetModel`'s.
    """
    import os

    from pytorch_tabnet.pretraining import TabNetPretrainer

    from msci.io.artifacts import atomic_path

    rng = np.random.default_rng(seed)
    held = rng.random(len(X)) < valid_fraction
    model = TabNetPretrainer(**_tabnet_kwargs(n_d, n_a, n_steps, gamma, lr, device, seed))
    batch = min(batch_size, int((~held).sum()))
    model.fit(X[~held], eval_set=[X[held]], max_epochs=epochs, patience=patience, batch_size=batch,
              virtual_batch_size=min(128, batch), pretraining_ratio=pretraining_ratio, drop_last=False)
    with atomic_path(out_path) as tmp:
        saved = model.save_model(f"{tmp}_model")  # tabnet zips a folder of that name to <name>.zip
        os.replace(saved, tmp)
    return out_path
