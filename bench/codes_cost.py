"""What more Multiome target codes cost at full size: rule ``encode_targets`` per number of codes, side by side.

The default run compresses the Multiome targets (23,418 genes) to ``targets.n_components`` SVD codes, one codec fit on
all training cells and one per CV split (``folds.n_splits`` folds and the day-out split), so that no CV score goes
through a basis its cells helped fit. More codes keep more of each cell's profile (``bench/model_table.py``'s
``*_codes128`` rows, against the default's, measure what that buys); this bench measures what it costs. Per number of
codes ``k`` and at two training cell counts, competition-width targets (``bench/scale.py``'s random low-rank ones)
with the workflow's folds and a day-out third go through ``encode_split_targets`` in a process of its own (its peak
RSS is its own). Each codec fit is a fixed number of passes over the targets, so the time grows with the cells: the
larger count's time, scaled in proportion to the competition's 105,942 training cells, bounds each ``k``'s cost there
from above (what does not grow with the cells is scaled too). The models' own cost of wider codes is
``bench/model_cost.py``'s (its Multiome target width follows ``targets.n_components``).

Run: ``.venv/bin/python bench/codes_cost.py [--ks 128 256] [--rows 2000 8000]`` (minutes; by default the
configured codes and ``bench/model_table.py``'s codes variant, ``CODES``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from full_size import FULL  # noqa: E402
from record import fmt, footer, save, table  # noqa: E402
from repo_config import target_files, workflow_config  # noqa: E402

FULL_CELLS = FULL["multi"][0]  # the competition's Multiome training cells


def write_folds(root: Path, n_splits: int, seed: int = 0) -> None:
    """The workflow's CV layout for the case's training cells: ``n_splits`` folds, and a third of them day out."""
    ids = pd.read_parquet(root / "folds.parquet").index
    rng = np.random.default_rng(seed)
    pd.DataFrame({"fold": rng.permutation(np.arange(len(ids)) % n_splits),
                  "day_out": rng.random(len(ids)) < 1 / 3}, index=ids).to_parquet(root / "folds.parquet")


def encode(root: Path, k: int) -> dict:
    """Rule encode_targets' work on the case at ``k`` codes, in this process: seconds, peak RSS and codecs fit."""
    from scale import _rss_mb, codec_settings

    from msci.split_codecs import encode_split_targets

    out = root / f"k{k}"
    out.mkdir(exist_ok=True)
    files = target_files(out)
    t0 = time.perf_counter()
    summary = encode_split_targets(str(root / "targets.h5ad"), str(root / "folds.parquet"), files,
                                   **{**codec_settings("svd"), "n_components": k})
    return {"seconds": time.perf_counter() - t0, "rss_mb": _rss_mb(), "codecs": 1 + len(summary.get("splits", []))}


def run_encode(root: Path, k: int) -> dict:
    """:func:`encode` in a process of its own, so that its peak RSS is its own."""
    out = subprocess.run([sys.executable, __file__, "--encode", str(k), "--root", str(root)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def full_size_hours(cells: int, seconds: float, full: int = FULL_CELLS) -> float:
    """Seconds at ``cells`` scaled in proportion to ``full`` cells, in hours: a bound (fixed costs scale too)."""
    return seconds * full / cells / 3600


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ks", type=int, nargs="+",
                    help="codes to compare (default: the config's and model_table.py's codes variant)")
    ap.add_argument("--rows", type=int, nargs=2, default=[2000, 8000], help="two training cell counts")
    ap.add_argument("--genes", type=int, default=23_418)
    ap.add_argument("--encode", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.encode is not None:
        print(json.dumps(encode(Path(args.root), args.encode)))
        return
    args.rows = sorted(args.rows)
    if args.rows[0] == args.rows[1]:
        ap.error("--rows needs two different cell counts")
    from model_table import CODES
    from scale import write_case

    cfg = workflow_config()  # by default the cost side of model_table's codes comparison, whose scores it measures
    args.ks = args.ks or sorted({CODES, cfg["targets"]["n_components"]})
    runs: dict[str, dict[str, dict]] = {str(k): {} for k in args.ks}
    with tempfile.TemporaryDirectory(prefix="msci-codes-") as tmp:
        for n in args.rows:
            root = Path(tmp) / f"cells{n}"
            root.mkdir()
            write_case(root, n, 10, args.genes, 8)
            write_folds(root, cfg["folds"]["n_splits"])
            for k in args.ks:
                r = runs[str(k)][str(n)] = run_encode(root, k)
                print(f"encode_targets_k{k}_{n}_cells_seconds: {r['seconds']:.1f}")
                print(f"encode_targets_k{k}_{n}_cells_peak_rss_mb: {r['rss_mb']:.0f}", flush=True)
    base, b = str(cfg["targets"]["n_components"]), str(args.rows[1])
    for k in runs:
        print(f"encode_targets_k{k}_full_size_hours_at_most: {full_size_hours(int(b), runs[k][b]['seconds']):.2f}")
        if k != base and base in runs:
            print(f"encode_targets_k{k}_vs_k{base}_time_ratio_{b}_cells: "
                  f"{runs[k][b]['seconds'] / runs[base][b]['seconds']:.2f}")
            print(f"encode_targets_k{k}_vs_k{base}_peak_rss_ratio_{b}_cells: "
                  f"{runs[k][b]['rss_mb'] / runs[base][b]['rss_mb']:.2f}")
    save("codes_cost", {"rows": args.rows, "genes": args.genes, "full_cells": FULL_CELLS, "runs": runs,
                        "default_k": cfg["targets"]["n_components"]}, vars(args))


def render(doc: dict, part: str | None = None) -> str:
    """Per number of codes: time and peak RSS at the two cell counts, against the default's, and the full-size bound."""
    r = doc["results"]
    a, b = (str(n) for n in r["rows"])
    base = r["runs"][str(r["default_k"])] if str(r["default_k"]) in r["runs"] else None
    rows = []
    for k, runs in r["runs"].items():
        ra, rb = runs[a], runs[b]
        name = f"{k}" + (" (default)" if int(k) == r["default_k"] else "")
        ratio = "–" if base is None or runs is base else f"{rb['seconds'] / base[b]['seconds']:.2f}"
        rows.append([name, ra["codecs"], f"{ra['seconds']:.0f} s → {rb['seconds']:.0f} s", ratio,
                     f"{ra['rss_mb'] / 1024:.2f} → {rb['rss_mb'] / 1024:.2f} GB",
                     fmt(full_size_hours(int(b), rb["seconds"], r["full_cells"]), 2)])
    head = ["codes (k)", "codecs fit", f"time, {int(a):,} → {int(b):,} cells", f"time vs default at {int(b):,}",
            "peak RSS", f"at {r['full_cells']:,} cells (h, at most)"]
    note = (f"{r['genes']:,} genes; the full-size bound scales the {int(b):,}-cell time in proportion to the cells")
    return table(head, rows) + "\n\n" + footer(doc, note)


if __name__ == "__main__":
    main()
