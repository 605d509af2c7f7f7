"""Where to compute: CUDA when present, CPU otherwise."""

from __future__ import annotations

from functools import cache


@cache
def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` → ``"cuda"`` if a GPU is visible, else ``"cpu"``; other values pass through."""
    if device == "auto":
        return "cuda" if cuda_available() else "cpu"
    return device
