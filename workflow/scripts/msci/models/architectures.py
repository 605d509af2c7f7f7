"""Network architectures of the method: MLP, dense-skip ResNet-MLP and the gated 1D-CNN.

No defaults here: each estimator in :mod:`msci.models.nn` holds its architecture's (their one home).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm as _wn


def _linear(n_in: int, n_out: int, weight_norm: bool) -> nn.Module:
    layer = nn.Linear(n_in, n_out)
    return _wn(layer) if weight_norm else layer


def dense_block(n_in: int, n_out: int, dropout: float, batch_norm: bool, weight_norm: bool) -> nn.Sequential:
    """(BatchNorm) → Dropout → Linear → SiLU."""
    layers: list[nn.Module] = [nn.BatchNorm1d(n_in)] if batch_norm else []
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers += [_linear(n_in, n_out, weight_norm), nn.SiLU()]
    return nn.Sequential(*layers)


class MLP(nn.Module):
    """Dense layers of the given widths, then a linear head."""

    def __init__(self, n_in: int, n_out: int, hidden: Sequence[int], dropout: float, batch_norm: bool,
                 weight_norm: bool) -> None:
        super().__init__()
        widths = [n_in, *hidden]
        self.body = nn.Sequential(*[dense_block(a, b, dropout, batch_norm, weight_norm)
                                    for a, b in zip(widths, widths[1:], strict=False)])
        self.head = nn.Linear(widths[-1], n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


class ResNetMLP(nn.Module):
    """Dense skip connections: each block sees the previous two blocks' outputs concatenated."""

    def __init__(self, n_in: int, n_out: int, width: int, n_blocks: int, dropout: float, batch_norm: bool,
                 weight_norm: bool) -> None:
        super().__init__()
        self.stem = dense_block(n_in, width, 0.0, batch_norm, weight_norm)
        self.first = dense_block(width, width, dropout, batch_norm, weight_norm)
        self.blocks = nn.ModuleList([dense_block(2 * width, width, dropout, batch_norm, weight_norm)
                                     for _ in range(max(0, n_blocks - 1))])
        self.head = nn.Linear(2 * width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        prev2 = self.stem(x)
        prev1 = self.first(prev2)
        for block in self.blocks:
            prev2, prev1 = prev1, block(torch.cat([prev1, prev2], dim=1))
        return self.head(torch.cat([prev1, prev2], dim=1))


class CNN1D(nn.Module):
    """Dense expansion reshaped to (channels, length), a Conv1d block, adaptive pooling, a second
    Conv1d block whose output gates its input, max-pooling and a dense head (the original's 1D-CNN)."""

    def __init__(self, n_in: int, n_out: int, hidden_size: int, channels: Sequence[int], dropout: float,
                 batch_norm: bool, weight_norm: bool) -> None:
        super().__init__()
        c1, c2 = channels
        if hidden_size % c1:
            raise ValueError(f"hidden_size {hidden_size} must be a multiple of the first channel count {c1}")
        self.c1, self.length = c1, hidden_size // c1
        self.expand = nn.Sequential(*([nn.BatchNorm1d(n_in)] if batch_norm else []), nn.Dropout(dropout),
                                    _linear(n_in, hidden_size, weight_norm), nn.CELU(0.06))
        bn = (lambda c: [nn.BatchNorm1d(c)]) if batch_norm else (lambda c: [])
        self.conv1 = nn.Sequential(*bn(c1), nn.Dropout(dropout), nn.Conv1d(c1, c2, 5, padding=2), nn.ReLU(),
                                   nn.AdaptiveAvgPool1d(max(1, self.length // 2)))
        self.conv2 = nn.Sequential(*bn(c2), nn.Dropout(dropout), nn.Conv1d(c2, c2, 3, padding=1), nn.ReLU(),
                                   *bn(c2), nn.Dropout(dropout), nn.Conv1d(c2, c2, 5, padding=2), nn.ReLU())
        self.pool = nn.MaxPool1d(kernel_size=4, stride=2, padding=1)
        with torch.no_grad():
            n_flat = self._features(torch.zeros(2, n_in)).shape[1]
        self.head = nn.Sequential(*([nn.BatchNorm1d(n_flat)] if batch_norm else []), nn.Dropout(dropout),
                                  _linear(n_flat, n_out, weight_norm))

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expand(x).reshape(x.shape[0], self.c1, self.length)
        h = self.conv1(h)
        h = h * self.conv2(h)  # the second block gates its input
        return self.pool(h).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self._features(x))
