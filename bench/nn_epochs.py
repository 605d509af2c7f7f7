"""Seconds per training epoch of the neural models (and TabNet), CPU vs CUDA, side by side in one run.

Simulated CITE-like data (SVD features → protein targets) and Multiome-like data (per-chromosome-sized
feature block → gene targets); prints ``key: value`` lines. Run: ``python bench/nn_epochs.py --help``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import fmt, footer, save, table  # noqa: E402

MODELS = {
    "mlp": ("cite", {"hidden": [512, 256]}),
    "resnet": ("cite", {"width": 256, "n_blocks": 4}),
    "cnn1d": ("cite", {"hidden_size": 1024, "channels": [128, 384], "weight_norm": True}),
    "cnn1d_multi": ("multi", {"hidden_size": 4096, "channels": [256, 512], "weight_norm": True}),
    "tabnet": ("cite", {"n_d": 32, "n_a": 32, "n_steps": 1, "batch_size": 1024, "virtual_batch_size": 128}),
}


def data(kind: str, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    d, t = (240, 140) if kind == "cite" else (2000, 2000)
    X = rng.normal(size=(n, d)).astype(np.float32)
    Y = np.tanh(X[:, :64] @ rng.normal(size=(64, t)) / 8).astype(np.float32)
    return X, Y


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cells", type=int, default=20000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--devices", default="cpu,cuda")
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    import torch

    from msci.models.registry import make_model

    devices = [d for d in args.devices.split(",") if d != "cuda" or torch.cuda.is_available()]
    print(f"torch: {torch.__version__}, cuda: {torch.cuda.is_available()}, cpu threads: {torch.get_num_threads()}")
    epoch_seconds = {}
    for name in args.models.split(","):
        kind, params = MODELS[name]
        X, Y = data(kind, args.cells)
        times = {}
        for device in devices:
            model_type = "cnn1d" if name.startswith("cnn1d") else name
            extra = {"epochs": args.epochs, "device": device}
            if model_type != "tabnet":
                extra |= {"batch_size": 256, "patience": 0}
            model = make_model(model_type, {**params, **extra}, seed=0)
            t0 = time.perf_counter()
            model.fit(X, Y)
            total = time.perf_counter() - t0
            times[device] = model.fit_info_.get("seconds_per_epoch", total / args.epochs)
            print(f"epoch_seconds_{name}_{device}: {times[device]:.3f}")
        if len(times) == 2:
            print(f"epoch_speedup_{name}_cuda_vs_cpu: {times['cpu'] / times['cuda']:.1f}")
        epoch_seconds[name] = times
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    save("nn_epochs", {"torch": torch.__version__, "gpu": gpu, "cpu_threads": torch.get_num_threads(),
                       "epoch_seconds": epoch_seconds}, vars(args))


def render(doc: dict, part: str | None = None) -> str:
    """Seconds per epoch of each network on each device, and the GPU's speed-up."""
    res = doc["results"]
    rows = []
    for name, times in res["epoch_seconds"].items():
        cpu, cuda = times.get("cpu"), times.get("cuda")
        rows.append([name, fmt(cpu, 3), fmt(cuda, 3), f"{cpu / cuda:.1f}×" if cpu and cuda else "–"])
    note = f"torch {res['torch']}, {res['cpu_threads']} CPU threads, GPU: {res['gpu'] or 'none'}"
    return table(["network", "CPU s/epoch", "CUDA s/epoch", "speed-up"], rows) + "\n\n" + footer(doc, note)


if __name__ == "__main__":
    main()
