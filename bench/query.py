"""What a query costs at the competition's full width: time and peak RSS of predicting new cells with a finished
run, against ingesting the same cells and the models' predict time; and the fitted files' size on disk.

Three steps, each resumable (a finished one is skipped):

* ``train``: competition-shaped files at full width (CITE 22,050 genes → 140 proteins; Multiome 228,942 peaks →
  23,418 genes) but few cells (``--train-cells``, written by ``bench/full_size.py``), and the default workflow on
  them, every default model with few epochs (``--epochs``: the fitted files' size does not depend on them).
* ``measure``: per task and query size (``--cells``): a query file of new cells at full width (CSR ``.h5ad``,
  the training files' sparsity), then, each in its own process for its peak RSS,
  the query (``Reference.predict_file``, what rule ``query_predictions`` runs), the own-data ingest of the same
  cells (``ingest_own_data``) and the models' predict time on the same cells' features (the features' own
  time and the blend's decoding into the targets' units with its fold spread, which the in-run predictions
  rule does too, timed apart). Saved as ``bench/results/query.json``.
* the fitted files' size: every file ``reference.json`` names; ``msci export``'s archive of them with the model
  card (its size, the time to write it and to load it back).

Run: ``.venv/bin/python bench/query.py all --workdir DIR [--cells 10000 50000]`` (about 40 min on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(REPO / "bench"))

from record import fmt, footer, save, table  # noqa: E402

TASKS = {"cite": "CITE", "multi": "Multiome"}
WRITE_CHUNK = {"cite": 2000, "multi": 250}  # rows generated at a time (a dense Multiome block is 229 MB at 250)
AIM = {"peak_rss_gb": 4.0, "ratio": 1.5}  # the aims: peak RSS and query / (ingest + predict)


def _peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: kB


# --- train -----------------------------------------------------------------------------------------------------


def train(args) -> None:
    """The full-width files with few cells, and the default workflow (few epochs) on them."""
    work, data = Path(args.workdir), Path(args.workdir) / "data"
    cells = [str(args.train_cells), str(args.train_cells // 2)]
    subprocess.run([sys.executable, str(REPO / "bench" / "full_size.py"), "write", "--data", str(data), "--seed",
                    str(args.seed), "--cite", *cells, "--multi", *cells], check=True)
    config = {"data_dir": str(data.resolve()), "seed": args.seed,
              "features": {"ivis": {"epochs": args.epochs}},
              "models": {"mlp": {"params": {"epochs": args.epochs}}, "resnet": {"params": {"epochs": args.epochs}}}}
    (work / "train.yaml").write_text(yaml.safe_dump(config))
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
                    "--configfile", str(work / "train.yaml"), "--cores", str(args.cores), "--resources", "gpu=1",
                    "--rerun-incomplete"], check=True, cwd=work)


def fitted_bytes(results: Path) -> dict[str, int]:
    """The size of every file ``reference.json`` names (folders summed), by top-level entry."""
    manifest = json.loads((results / "reference.json").read_text())

    def size(value) -> int:
        if isinstance(value, dict):
            return sum(size(v) for v in value.values())
        if isinstance(value, list):
            return sum(size(v) for v in value)
        path = results / str(value) if isinstance(value, str) else None
        if path is None or not path.exists() or path == results:
            return 0
        files = [path] if path.is_file() else [f for f in path.rglob("*") if f.is_file()]
        return sum(f.stat().st_size for f in files)

    out = {key: size(value) for key, value in manifest.items()}
    return {**out, "reference.json": (results / "reference.json").stat().st_size}


# --- measure ---------------------------------------------------------------------------------------------------


def write_query(results: Path, modality: str, n: int, path: Path, seed: int) -> None:
    """``n`` new cells over the run's input features (same generator and sparsity as the training files)."""
    from full_size import DENSITY, LATENT, _sparse_rows

    from msci.io.matrix import MatrixFile, MatrixWriter

    if path.exists():
        return
    names = MatrixFile(results / "reference" / "input_space.h5ad").var_names
    rng = np.random.default_rng(seed)
    modules, centers = rng.permutation(len(names)), 1.2 * rng.standard_normal((8, LATENT))
    with MatrixWriter(path, names, sparse=True) as w:
        for start in range(0, n, WRITE_CHUNK[modality]):
            m = min(WRITE_CHUNK[modality], n - start)
            z = centers[rng.integers(0, len(centers), m)] + 0.6 * rng.standard_normal((m, LATENT))
            w.append(_sparse_rows(rng, z, modules, DENSITY[modality]), [f"q{start + i}" for i in range(m)])


def child_query(results: str, query: str, out: str, chunk_rows: int) -> dict:
    """The query as rule ``query_predictions`` runs it with the ``query:`` entry's defaults (written layers, dtype)."""
    from msci.cli import query_defaults
    from msci.io.anndata_input import AnnDataSource
    from msci.reference import QueryInput, load_model

    d = query_defaults()
    t0 = time.perf_counter()
    load_model(results).predict_file(QueryInput(AnnDataSource(query)), out, chunk_rows=chunk_rows,
                                     layers=d["layers"], dtype=d["dtype"])
    return {"seconds": time.perf_counter() - t0, "peak_rss_gb": _peak_rss_gb(),
            "output_gb": Path(out).stat().st_size / 1e9, "layers": d["layers"], "dtype": d["dtype"]}


def child_archive(results: str, out: str) -> dict:
    """``msci export`` of the run's modality, and loading the archive (checked, extracted, every object read)."""
    from msci.archive import export
    from msci.reference import load_model

    t0 = time.perf_counter()
    export(results, out)
    t1 = time.perf_counter()
    load_model(out)
    return {"export_seconds": t1 - t0, "load_seconds": time.perf_counter() - t1,
            "archive_gb": Path(out).stat().st_size / 1e9, "peak_rss_gb": _peak_rss_gb()}


def child_ingest(modality: str, query: str, out: str, chunk_rows: int) -> dict:
    """The own-data ingest of the query's cells (ten of them given targets, the rest the test cells)."""
    import anndata as ad
    import pandas as pd

    from msci.ingest_anndata import ingest_own_data
    from msci.io.matrix import MatrixFile

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    cells = MatrixFile(query).obs_names[:10]
    ad.AnnData(np.ones((10, 3), np.float32), obs=pd.DataFrame(index=cells),
               var=pd.DataFrame(index=["t0", "t1", "t2"])).write_h5ad(folder / "targets.h5ad")
    t0 = time.perf_counter()
    ingest_own_data(modality, {"format": "anndata", "inputs": query, "targets": str(folder / "targets.h5ad")},
                    str(folder / "cells.parquet"), str(folder / "inputs.h5ad"), str(folder / "t.h5ad"),
                    chunk_rows=chunk_rows)
    return {"seconds": time.perf_counter() - t0, "peak_rss_gb": _peak_rss_gb()}


def child_predict(results: str, query: str, chunk_rows: int) -> dict:
    """The query's cells through the fitted features (timed apart) and then the models' predict (timed)."""
    from msci.features.table import RowChunk
    from msci.io.anndata_input import AnnDataSource
    from msci.reference import load_model

    ref, source = load_model(results), AnnDataSource(query)
    match = ref.match(source.var_names(), query, 0.5)
    features = predict = decode = 0.0
    cells = source.obs_names()
    for start, stop, block in source.iter_rows(chunk_rows):
        t0 = time.perf_counter()
        chunk = RowChunk(ref.to_inputs(block, match, "none"), cells[start:stop])
        for name, fam in ref.families.items():
            chunk.tables[name] = fam.transform(chunk)
        t1 = time.perf_counter()
        preds = {n: m.predict(chunk.tables) for n, m in ref.members.items()}
        t2 = time.perf_counter()
        level = ref.levels.predict(np.concatenate([chunk.tables[f] for f in ref.unit_features], axis=1))
        ref._blend(preds, level)  # the blend decoded into units with its fold spread, as the predictions rule does
        features, predict, decode = features + t1 - t0, predict + t2 - t1, decode + time.perf_counter() - t2
    return {"features_seconds": features, "seconds": predict, "decode_seconds": decode,
            "peak_rss_gb": _peak_rss_gb()}


def _child(*argv: str) -> dict:
    """Run one measurement in its own process (its peak RSS is its own) and return its JSON line."""
    proc = subprocess.run([sys.executable, __file__, "child", *argv], check=True, capture_output=True, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(args) -> dict:
    work = Path(args.workdir)
    out: dict = {"tasks": {}, "fitted_bytes": {}, "train_cells": args.train_cells, "cells": args.cells}
    for m in args.tasks:
        results = work / "results" / m
        out["fitted_bytes"][m] = fitted_bytes(results)
        out.setdefault("archive", {})[m] = _child("archive", str(results), str(work / f"{m}.msci"))
        rows = {}
        for n in args.cells:
            q = work / "queries" / f"{m}_{n}.h5ad"
            q.parent.mkdir(parents=True, exist_ok=True)
            write_query(results, m, n, q, args.seed + n)
            chunk = str(args.chunk_rows)
            query = _child("query", str(results), str(q), str(work / "queries" / f"{m}_{n}.predictions.h5ad"), chunk)
            ingest = _child("ingest", m, str(q), str(work / "queries" / f"{m}_{n}.ingest"), chunk)
            predict = _child("predict", str(results), str(q), chunk)
            base = ingest["seconds"] + predict["seconds"]
            rows[str(n)] = {"query": query, "ingest": ingest, "predict": predict,
                            "query_gb": q.stat().st_size / 1e9, "ratio": query["seconds"] / base,
                            "ratio_with_decoding": query["seconds"] / (base + predict["decode_seconds"])}
            print(f"{m} {n} cells: query {query['seconds']:.0f} s, peak RSS {query['peak_rss_gb']:.2f} GB; ingest "
                  f"{ingest['seconds']:.0f} s; models' predict {predict['seconds']:.0f} s (features "
                  f"{predict['features_seconds']:.0f} s, decoding into units {predict['decode_seconds']:.0f} s); "
                  f"ratio {rows[str(n)]['ratio']:.2f}, with decoding {rows[str(n)]['ratio_with_decoding']:.2f}",
                  flush=True)
            for f in (work / "queries").glob(f"{m}_{n}.predictions.h5ad"):
                f.unlink()  # Multiome's predictions at 50,000 cells are gigabytes
        out["tasks"][m] = rows
        total = sum(out["fitted_bytes"][m].values()) / 1e9
        print(f"{m} fitted files: {total:.3f} GB", flush=True)
    return out


# --- render ----------------------------------------------------------------------------------------------------


def render(doc: dict, part: str | None = None) -> str:
    """Per task and query size: the query's time and peak RSS, the ingest and models' predict times, the ratio;
    then the fitted files' size."""
    res = doc["results"]
    rows = []
    for m, sizes in res["tasks"].items():
        for n, r in sizes.items():
            rows.append([TASKS[m], f"{int(n):,}", f"{r['query']['seconds']:,.0f} s",
                         f"{r['query']['peak_rss_gb']:.2f} GB", f"{r['query']['output_gb']:.1f} GB",
                         f"{r['ingest']['seconds']:,.0f} s", f"{r['predict']['features_seconds']:,.0f} s",
                         f"{r['predict']['seconds']:,.0f} s", f"{r['predict']['decode_seconds']:,.0f} s",
                         fmt(r["ratio"], 2), fmt(r["ratio_with_decoding"], 2)])
    text = table(["task", "query cells", "query time", "query peak RSS", "predictions.h5ad", "ingest",
                  "features", "models' predict", "decoding into units", "query / (ingest + predict)",
                  "query / (ingest + predict + decoding)"], rows)
    sizes = "; ".join(f"{TASKS[m]} {sum(b.values()) / 1e9:.3f} GB (largest: "
                      f"{max((k for k in b if k != 'reference.json'), key=b.get)})"
                      for m, b in res["fitted_bytes"].items())
    lines = [f"The fitted files `reference.json` names, on disk: {sizes}."]
    if "archive" in res:
        lines.append("As one archive (`msci export`): " + "; ".join(
            f"{TASKS[m]} {a['archive_gb']:.3f} GB, written in {a['export_seconds']:.0f} s, loaded (checked, "
            f"every object read) in {a['load_seconds']:.0f} s" for m, a in res["archive"].items()) + ".")
    first = next(iter(next(iter(res["tasks"].values())).values()))["query"]
    if "layers" in first:
        lines.append(f"The query writes the `query:` entry's default layers ({', '.join(first['layers'])}) in "
                     f"{first['dtype']}.")
    note = f"a reference trained on {res['train_cells']:,} + {res['train_cells'] // 2:,} cells per task"
    return "\n\n".join([text, " ".join(lines), footer(doc, note)])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        kind, *rest = sys.argv[2:]
        run = {"query": lambda r, q, o, c: child_query(r, q, o, int(c)),
               "ingest": lambda m, q, o, c: child_ingest(m, q, o, int(c)),
               "predict": lambda r, q, c: child_predict(r, q, int(c)),
               "archive": child_archive}[kind]
        print(json.dumps(run(*rest)))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["train", "measure", "all"])
    ap.add_argument("--workdir", default="query_bench", help="folder for the files, the run and the queries")
    ap.add_argument("--cells", type=int, nargs="+", default=[10_000, 50_000], help="query sizes")
    ap.add_argument("--train-cells", type=int, default=2000, help="training cells per task (half as many test)")
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--chunk-rows", type=int, default=1000, help="query rows at a time (config ingest.chunk_rows)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    if args.step in ("train", "all"):
        train(args)
    if args.step in ("measure", "all"):
        results = measure(args)
        config = {k: v for k, v in vars(args).items() if k not in ("cores",)}
        print("\n" + render(json.loads(save("query", results, config).read_text())))


if __name__ == "__main__":
    main()
