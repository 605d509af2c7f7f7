"""Memory and speed at competition width: peak RSS that must stay flat as cells grow, and throughput.

Prints ``key: value`` lines, each stage run in its own process (its peak RSS is its own):

* ``encode_targets``, ``train_model`` (ridge) and ``ensemble`` on Multiome-shaped targets
  (23,418 genes) at two cell counts, with the targets compressed to SVD codes (the default) and,
  for comparison, exact (``compress: none``): the compressed path stays flat, the exact one grows;
* the submission at ≥ 10 M evaluation rows (decoding codes) against a bare PyArrow read + write of
  the same file (the limit);
* competition-shaped Multiome files at full width (228,942 peaks, chunked, blosc-compressed) written
  at two row counts; ``ingest`` rows/s and peak RSS on each against a raw PyTables read of the same
  file (the limit); ``svd`` and ``svd_chrom`` time and RSS against scikit-learn's ``TruncatedSVD``
  on the same matrix held in memory;
* the per-cell Pearson metric against a row loop of ``np.corrcoef``;
* a no-op ``snakemake -n`` on a finished run (``--finished-run``, default: this checkout if it has one).

Run: ``.venv/bin/python bench/scale.py`` (a few minutes here); full size:
``--rows 52971 105942 --eval-rows 65744180 --input-rows 52971 105942``. ``make bench`` runs the defaults.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "workflow" / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from record import fmt, footer, save, table  # noqa: E402
from repo_config import target_files, workflow_config  # noqa: E402

GENES = 23_418


def _rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_case(root: Path, n: int, n_test: int, genes: int, n_features: int, seed: int = 0) -> None:
    """Multiome-shaped training targets (log1p-like, ~80 % zeros) written in chunks, features, folds, cells."""
    from msci.io.matrix import MatrixWriter

    rng = np.random.default_rng(seed)
    ids = np.array([f"c{i:07d}" for i in range(n)], dtype=object)
    test_ids = np.array([f"t{i:07d}" for i in range(n_test)], dtype=object)
    latent = rng.normal(size=(8, genes)).astype(np.float32)
    z_all = rng.normal(size=(n + n_test, 8)).astype(np.float32)
    with MatrixWriter(root / "targets.h5ad", [f"ENSG{j:011d}" for j in range(genes)]) as w:
        for s in range(0, n, 2000):
            e = min(s + 2000, n)
            y = np.maximum(z_all[s:e] @ latent + rng.normal(size=(e - s, genes)).astype(np.float32) - 1.5, 0)
            w.append(np.log1p(y), ids[s:e])
    feats = pd.DataFrame(z_all @ rng.normal(size=(8, n_features)).astype(np.float32)
                         + rng.normal(size=(n + n_test, n_features)).astype(np.float32),
                         index=pd.Index(np.concatenate([ids, test_ids]), name="cell_id"),
                         columns=[f"svd_{i}" for i in range(n_features)])
    feats.to_parquet(root / "svd.parquet")
    cells = pd.DataFrame({"split": ["train"] * n + ["test"] * n_test, "day": 2}, index=feats.index)
    cells.to_parquet(root / "cells.parquet")
    pd.DataFrame({"fold": np.arange(n) % 5, "good_validation": rng.random(n) < 0.2},
                 index=pd.Index(ids, name="cell_id")).to_parquet(root / "folds.parquet")


def codec_settings(method: str) -> dict:
    """Rule encode_targets' settings for ``method``: config.yaml with the schema's defaults filled in."""
    cfg = workflow_config()
    t = cfg["targets"]
    if method == "none":  # exact targets: no SVD settings (as common.smk's target_codec)
        return {"method": method, "chunk_rows": t["chunk_rows"], "n_components": None, "n_iter": None, "seed": None}
    return {"method": method, "chunk_rows": t["chunk_rows"], "n_components": t["n_components"],
            "n_iter": t["n_iter"], "seed": cfg["seed"]}


def stage(name: str, root: Path, method: str) -> dict:
    """One workflow stage through the library, in this process."""
    from msci.ensemble import BlendFiles, BlendOutputs, BlendSettings, ensemble_models
    from msci.split_codecs import encode_split_targets
    from msci.training import train_model

    t0 = time.perf_counter()
    d = root / method
    d.mkdir(exist_ok=True)
    files = target_files(d)
    if name == "encode_targets":  # the global codec and one per CV split (5 folds here, no day out)
        encode_split_targets(str(root / "targets.h5ad"), str(root / "folds.parquet"), files, **codec_settings(method))
    elif name == "train_model":
        train_model("ridge", {"alpha": 10.0}, [str(root / "svd.parquet")], files, str(root / "cells.parquet"),
                    str(root / "folds.parquet"), str(d / "oof.h5ad"), str(d / "test.h5ad"), str(d / "metrics.json"))
    elif name == "ensemble":
        paths = {"a": str(d / "oof.h5ad"), "b": str(d / "oof.h5ad")}
        tests = {"a": str(d / "test.h5ad"), "b": str(d / "test.h5ad")}
        ensemble_models(BlendFiles(paths, tests, {}, files, str(root / "cells.parquet"), str(root / "folds.parquet")),
                        BlendOutputs(str(d / "blend_oof.h5ad"), str(d / "blend_test.h5ad"), str(d / "weights.json"),
                                     str(d / "blend_metrics.json")),
                        BlendSettings("optuna", {}, "row", "good_validation", n_trials=20, n_seeds=3,
                                      stack_shrinkage=1.0, seed=0))
    return {"seconds": time.perf_counter() - t0, "rss_mb": _rss_mb()}


def run_stage(name: str, root: Path, method: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--stage", name, "--root", str(root), "--method", method],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_evaluation(path: Path, n_rows: int, n_cells: int, genes: int, seed: int = 0) -> np.ndarray:
    """Evaluation ids shaped like the Multiome block: each cell scores the same number of its own genes."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    per_cell = n_rows // n_cells
    cells = np.array([f"t{i:07d}" for i in range(n_cells)], dtype=object)
    gene_names = np.array([f"ENSG{j:011d}" for j in range(genes)], dtype=object)
    with pacsv.CSVWriter(str(path), pa.schema([("row_id", pa.int64()), ("cell_id", pa.string()),
                                               ("gene_id", pa.string())])) as w:
        for s in range(0, n_cells, 1000):
            e = min(s + 1000, n_cells)
            g = np.sort(rng.random((e - s, genes)).argsort(axis=1)[:, :per_cell], axis=1).ravel()
            w.write_table(pa.table({"row_id": np.arange(s * per_cell, e * per_cell, dtype=np.int64),
                                    "cell_id": np.repeat(cells[s:e], per_cell), "gene_id": gene_names[g]}))
    return cells


def submission_stage(root: Path) -> dict:
    from msci.submission import build_submission

    t0 = time.perf_counter()
    n = build_submission(str(root / "evaluation_ids.csv"), {"multi": str(root / "test_codes.h5ad")},
                         str(root / "submission.csv"), codecs={"multi": str(root / "codec.npz")})
    return {"seconds": time.perf_counter() - t0, "rss_mb": _rss_mb(), "rows": n}


def arrow_copy_stage(root: Path) -> dict:
    """The limit: stream the same CSV through PyArrow and write ``row_id`` and a constant back, no mapping."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    t0 = time.perf_counter()
    schema = pa.schema([("row_id", pa.int64()), ("target", pa.float32())])
    reader = pacsv.open_csv(root / "evaluation_ids.csv", read_options=pacsv.ReadOptions(block_size=80 << 20))
    with pacsv.CSVWriter(str(root / "copy.csv"), schema) as w:
        for b in reader:
            w.write_batch(pa.record_batch([b.column(0), pa.array(np.zeros(b.num_rows, np.float32))], schema=schema))
    return {"seconds": time.perf_counter() - t0, "rss_mb": _rss_mb()}


PEAKS = 228_942


def write_multiome(root: Path, n_train: int, n_test: int, peaks: int, genes: int, seed: int = 0) -> None:
    """Competition-shaped Multiome files (inputs, targets, metadata), chunked: ``bench/full_size.py``'s writer."""
    from full_size import cell_tables, write_metadata, write_modality

    tables = cell_tables({"multi": (n_train, n_test)}, seed)
    write_modality(root, "multi", tables["multi"], peaks, genes, seed)
    write_metadata(root, tables)


def input_stage(name: str, root: Path) -> dict:
    """Ingest, a raw PyTables read, and the SVDs (ours, chunked; scikit-learn's, in memory)."""
    t0 = time.perf_counter()
    out: dict = {}
    if name == "ingest":
        from msci.ingest import ingest_modality

        cells = ingest_modality("multi", str(root / "train_multi_inputs.h5"), str(root / "test_multi_inputs.h5"),
                                str(root / "train_multi_targets.h5"), str(root / "metadata.csv"),
                                str(root / "cells.parquet"), str(root / "inputs.h5ad"), str(root / "targets.h5ad"))
        out["rows"] = len(cells)
    elif name == "raw_read":
        import tables

        rows = 0
        for split in ("train", "test"):
            with tables.open_file(root / f"{split}_multi_inputs.h5") as f:
                arr = f.get_node(f"/{split}_multi_inputs/block0_values")
                for s in range(0, arr.shape[0], 1000):
                    rows += len(arr.read(s, min(s + 1000, arr.shape[0])))
        out["rows"] = rows
    elif name == "svd":
        from msci.features.svd import svd_features

        svd_features(str(root / "inputs.h5ad"), str(root / "svd.parquet"), n_components=64)
    elif name == "svd_chrom":
        from msci.features.svd_chrom import svd_chrom_features

        svd_chrom_features(str(root / "inputs.h5ad"), str(root / "svd_chrom.parquet"), per_chromosome={"chr1": 150})
    elif name in ("sklearn_svd", "sklearn_svd_chrom"):
        from sklearn.decomposition import TruncatedSVD

        from msci.features.svd_chrom import chromosome_groups
        from msci.io.matrix import MatrixFile

        m = MatrixFile(root / "inputs.h5ad")
        X = m.read()  # the whole CSR in memory
        if name == "sklearn_svd":
            TruncatedSVD(64, n_iter=4, random_state=0).fit_transform(X)
        else:
            groups = chromosome_groups(m.var_names)
            groups.pop("contigs", None)
            Xc = X.tocsc()
            for c, cols in groups.items():
                k = max(1, min(150 if c == "chr1" else 100, len(cols) // 2, X.shape[0] - 1))
                TruncatedSVD(k, n_iter=4, random_state=0).fit_transform(Xc[:, cols])
    return {**out, "seconds": time.perf_counter() - t0, "rss_mb": _rss_mb()}


def run_input_stage(name: str, root: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--input-stage", name, "--root", str(root)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs=2, default=[4000, 8000], help="two training cell counts")
    ap.add_argument("--genes", type=int, default=GENES)
    ap.add_argument("--test-rows", type=int, default=2000)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--eval-rows", type=int, default=10_000_000)
    ap.add_argument("--input-rows", type=int, nargs=2, default=[1000, 2000],
                    help="two Multiome training cell counts for the input files (full width)")
    ap.add_argument("--peaks", type=int, default=PEAKS)
    ap.add_argument("--finished-run", default=str(Path(__file__).resolve().parents[1]),
                    help="a folder with a finished run, for the no-op `snakemake -n`")
    ap.add_argument("--input-stage", help=argparse.SUPPRESS)
    ap.add_argument("--stage", help=argparse.SUPPRESS)
    ap.add_argument("--root", help=argparse.SUPPRESS)
    ap.add_argument("--method", default="svd", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.input_stage:
        print(json.dumps(input_stage(args.input_stage, Path(args.root))))
        return
    if args.stage:
        root = Path(args.root)
        res = {"submission": submission_stage, "arrow_copy": arrow_copy_stage}.get(args.stage)
        print(json.dumps(res(root) if res else stage(args.stage, root, args.method)))
        return

    results: dict = {"inputs": {}, "stages": {}}
    with tempfile.TemporaryDirectory(prefix="msci-bench-") as tmp:
        tmp = Path(tmp)
        # 0. Competition-shaped input files at full width: ingest and SVDs against their limits.
        ingest_rss = {}
        for n in args.input_rows:
            root = tmp / f"inputs{n}"
            root.mkdir()
            t0 = time.perf_counter()
            write_multiome(root, n, max(10, n // 10), args.peaks, args.genes)
            size = sum(f.stat().st_size for f in root.glob("*.h5")) / 1e9
            print(f"write_multiome_{n}_cells_x_{args.peaks}_seconds: {time.perf_counter() - t0:.1f}")
            print(f"write_multiome_{n}_cells_gb_on_disk: {size:.2f}", flush=True)
            res = {name: run_input_stage(name, root) for name in
                   ("ingest", "raw_read", "svd", "sklearn_svd", "svd_chrom", "sklearn_svd_chrom")}
            results["inputs"][str(n)] = {"gb_on_disk": size, "stages": res}
            ingest_rss[n] = res["ingest"]["rss_mb"]
            for name, r in res.items():
                print(f"{name}_{n}_cells_seconds: {r['seconds']:.1f}")
                print(f"{name}_{n}_cells_peak_rss_mb: {r['rss_mb']:.0f}")
            print(f"ingest_{n}_cells_rows_per_second: {res['ingest']['rows'] / res['ingest']['seconds']:.0f}")
            print(f"raw_read_{n}_cells_rows_per_second: {res['raw_read']['rows'] / res['raw_read']['seconds']:.0f}")
            print(f"ingest_vs_raw_read_time_ratio_{n}_cells: "
                  f"{res['ingest']['seconds'] / res['raw_read']['seconds']:.2f}")
            for ours in ("svd", "svd_chrom"):
                theirs = res[f"sklearn_{ours}"]
                print(f"{ours}_vs_sklearn_time_ratio_{n}_cells: {res[ours]['seconds'] / theirs['seconds']:.2f}")
                rss_ratio = res[ours]["rss_mb"] / theirs["rss_mb"]
                print(f"{ours}_vs_sklearn_rss_ratio_{n}_cells: {rss_ratio:.2f}", flush=True)
            shutil.rmtree(root)
        a, b = args.input_rows
        print(f"ingest_rss_ratio_{b}_vs_{a}_cells: {ingest_rss[b] / ingest_rss[a]:.2f}", flush=True)

        # 1. Stages at two cell counts: compressed (svd) vs exact (none) targets.
        rss: dict[tuple[str, str, int], float] = {}
        for n in args.rows:
            root = tmp / f"n{n}"
            root.mkdir()
            t0 = time.perf_counter()
            write_case(root, n, args.test_rows, args.genes, args.features)
            print(f"write_targets_{n}x{args.genes}_seconds: {time.perf_counter() - t0:.1f}", flush=True)
            runs = results["stages"][str(n)] = {"svd": {"stages": {}}, "none": {"stages": {}}}
            for method in ("svd", "none"):
                for name in ("encode_targets", "train_model", "ensemble"):
                    r = runs[method]["stages"][name] = run_stage(name, root, method)
                    rss[(name, method, n)] = r["rss_mb"]
                    print(f"{name}_{method}_{n}_cells_seconds: {r['seconds']:.1f}", flush=True)
                    print(f"{name}_{method}_{n}_cells_peak_rss_mb: {r['rss_mb']:.0f}", flush=True)
            cv = {m: json.loads((root / m / "metrics.json").read_text())["cv_pearson"] for m in ("svd", "none")}
            print(f"ridge_cv_pearson_{n}_cells_codes: {cv['svd']:.4f}")
            print(f"ridge_cv_pearson_{n}_cells_exact: {cv['none']:.4f}")
            for sub in ("svd", "none"):
                runs[sub]["ridge_cv_pearson"] = cv[sub]
                for f in ("oof.h5ad", "test.h5ad"):
                    mb = runs[sub][f"{f.split('.')[0]}_file_mb"] = (root / sub / f).stat().st_size / 1e6
                    print(f"{f.split('.')[0]}_file_mb_{sub}_{n}_cells: {mb:.1f}")
        a, b = args.rows
        for name in ("encode_targets", "train_model", "ensemble"):
            for method in ("svd", "none"):
                ratio = rss[(name, method, b)] / rss[(name, method, a)]
                print(f"{name}_{method}_rss_ratio_{b}_vs_{a}_cells: {ratio:.2f}")

        # 2. Submission at ≥ 10 M rows, decoding codes, against a bare PyArrow copy of the same file.
        root = tmp / f"n{args.rows[0]}"
        per_cell = max(1, round(0.045 * args.genes))  # the competition: ~1,053 of 23,418 genes per cell
        n_cells = -(-args.eval_rows // per_cell)
        t0 = time.perf_counter()
        cells = write_evaluation(root / "evaluation_ids.csv", n_cells * per_cell, n_cells, args.genes)
        print(f"evaluation_ids_rows: {n_cells * per_cell}")
        print(f"evaluation_ids_write_seconds: {time.perf_counter() - t0:.1f}", flush=True)
        from msci.io.matrix import MatrixWriter
        from msci.target_codes import load_codec

        codec, _, _ = load_codec(root / "svd" / "codec.npz")
        codec.save(root / "codec.npz", [], [])
        rng = np.random.default_rng(1)
        with MatrixWriter(root / "test_codes.h5ad", codec.code_names) as w:
            w.append(rng.normal(size=(len(cells), codec.n_codes)).astype(np.float32), cells)
        sub = run_stage("submission", root, "svd")
        copy = run_stage("arrow_copy", root, "svd")
        print(f"submission_seconds: {sub['seconds']:.1f}")
        print(f"submission_rows_per_second: {sub['rows'] / sub['seconds']:.0f}")
        print(f"submission_peak_rss_mb: {sub['rss_mb']:.0f}")
        print(f"arrow_copy_seconds: {copy['seconds']:.1f}")
        print(f"arrow_copy_peak_rss_mb: {copy['rss_mb']:.0f}")
        print(f"submission_vs_arrow_copy_time_ratio: {sub['seconds'] / copy['seconds']:.2f}")
        results |= {"n_codes": int(codec.n_codes), "submission": sub, "arrow_copy": copy}

    # 3. The metric against a row loop of np.corrcoef.
    from msci.metrics import row_pearson

    rng = np.random.default_rng(0)
    y, p = rng.normal(size=(20_000, 140)), rng.normal(size=(20_000, 140))
    t0 = time.perf_counter()
    r = row_pearson(y, p)
    fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    loop = np.array([np.corrcoef(y[i], p[i])[0, 1] for i in range(len(y))])
    slow = time.perf_counter() - t0
    assert np.allclose(r, loop)
    print(f"metric_20000x140_seconds: {fast:.4f}")
    print(f"corrcoef_loop_20000x140_seconds: {slow:.3f}")
    print(f"metric_speedup_vs_corrcoef_loop: {slow / fast:.0f}")
    results["metric"] = {"shape": list(y.shape), "seconds": fast, "corrcoef_loop_seconds": slow}

    # 4. A no-op dry run on a finished run.
    finished = Path(args.finished_run)
    if (finished / "results" / "submission.csv").exists():
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--cores", "1"], cwd=finished,
                             capture_output=True, text=True)
        results["noop_dry_run"] = {"seconds": time.perf_counter() - t0,
                                   "nothing_to_do": "Nothing to be done" in out.stdout + out.stderr}
        print(f"noop_dry_run_seconds: {results['noop_dry_run']['seconds']:.2f}")
        print(f"noop_dry_run_nothing_to_do: {results['noop_dry_run']['nothing_to_do']}")
    else:
        results["noop_dry_run"] = None
        print(f"noop_dry_run_seconds: skipped (no finished run in {finished})")
    config = {k: v for k, v in vars(args).items() if k not in ("input_stage", "stage", "root", "method")}
    save("scale", results, config)


def _pair(a: dict, b: dict) -> tuple[str, str]:
    """Peak RSS A → B (ratio) and time A / B of one stage at two sizes."""
    return (f"{a['rss_mb']:,.0f} → {b['rss_mb']:,.0f} MB ({b['rss_mb'] / a['rss_mb']:.2f})",
            f"{a['seconds']:,.1f} / {b['seconds']:,.1f} s")


def _versus(ours: dict, theirs: dict) -> tuple[str, str]:
    """Peak RSS and time of ours vs theirs."""
    return (f"{ours['rss_mb']:,.0f} vs {theirs['rss_mb']:,.0f} MB",
            f"{ours['seconds']:,.1f} vs {theirs['seconds']:,.1f} s")


def _input_rows(doc: dict) -> list[list[str]]:
    """Ingest, the raw read and the SVDs on the full-width input files."""
    (a, ra), (b, rb) = sorted(doc["results"]["inputs"].items(), key=lambda kv: int(kv[0]))
    sa, sb = ra["stages"], rb["stages"]
    cells = f"{int(a):,} → {int(b):,} cells"
    ingest = _pair(sa["ingest"], sb["ingest"])
    raw = _pair(sa["raw_read"], sb["raw_read"])
    rate = sb["ingest"]["rows"] / sb["ingest"]["seconds"]
    times = sb["ingest"]["seconds"] / sb["raw_read"]["seconds"]
    return [
        [f"ingest, Multiome at {doc['config']['peaks']:,} peaks (blosc)", cells, ingest[0],
         f"{ingest[1]} ({rate:,.0f} cells/s)"],
        ["raw PyTables read of the same file (the limit)", cells, raw[0],
         f"{raw[1]} (ingest {times:.1f}× the raw read)"],
        ["`svd` (64 components, chunked) vs scikit-learn `TruncatedSVD` with the CSR in memory", f"{int(b):,} cells",
         *_versus(sb["svd"], sb["sklearn_svd"])],
        ["`svd_chrom` vs scikit-learn per chromosome, in memory", f"{int(b):,} cells",
         *_versus(sb["svd_chrom"], sb["sklearn_svd_chrom"])],
    ]


def _stage_rows(doc: dict) -> list[list[str]]:
    """encode_targets, train_model and ensemble at two cell counts, on codes and on exact targets."""
    res = doc["results"]
    (a, ra), (b, rb) = sorted(res["stages"].items(), key=lambda kv: int(kv[0]))
    cells = f"{int(a):,} → {int(b):,} cells"
    genes = doc["config"]["genes"]
    labels = {("svd", "encode_targets"): f"`encode_targets` ({genes:,} genes → {res['n_codes']} codes)",
              ("svd", "train_model"): "`train_model` ridge on codes", ("svd", "ensemble"): "`ensemble` on codes",
              ("none", "encode_targets"): "`encode_targets`, exact targets (a copy)",
              ("none", "train_model"): "`train_model` ridge, exact targets",
              ("none", "ensemble"): "`ensemble`, exact targets"}
    return [[label, cells, *_pair(ra[m]["stages"][st], rb[m]["stages"][st])] for (m, st), label in labels.items()]


def _other_rows(doc: dict) -> list[list[str]]:
    """The submission against a bare PyArrow copy, the metric against a row loop, the no-op dry run."""
    res = doc["results"]
    sub, copy, metric = res["submission"], res["arrow_copy"], res["metric"]
    noop = res["noop_dry_run"]
    return [
        [f"`submission`, {sub['rows']:,} Multiome-shaped rows, decoding codes", "—", f"{sub['rss_mb']:,.0f} MB",
         f"{sub['seconds']:,.1f} s ({sub['rows'] / sub['seconds'] / 1e6:.1f} M rows/s) vs a bare PyArrow read + "
         f"write {copy['seconds']:,.1f} s"],
        [f"per-cell Pearson metric ({metric['shape'][0]:,} × {metric['shape'][1]}) vs a row loop of `np.corrcoef`",
         "—", "—", f"{fmt(metric['seconds'], 4)} vs {fmt(metric['corrcoef_loop_seconds'], 2)} s "
         f"({metric['corrcoef_loop_seconds'] / metric['seconds']:.0f}×)"],
        ["no-op `snakemake -n` on a finished run", "—", "—",
         "not measured (no finished run)" if noop is None else f"{noop['seconds']:.2f} s"],
    ]


def render(doc: dict, part: str | None = None) -> str:
    """Peak RSS and time of each stage at two sizes (flat when bounded), and each against its limit."""
    rows = _input_rows(doc) + _stage_rows(doc) + _other_rows(doc)
    res = doc["results"]
    b = max(res["stages"], key=int)
    codes, exact = res["stages"][b]["svd"], res["stages"][b]["none"]
    extra = (f"Ridge CV on these random low-rank targets at {int(b):,} cells: codes {fmt(codes['ridge_cv_pearson'])}"
             f" vs exact {fmt(exact['ridge_cv_pearson'])}; an OOF file is {codes['oof_file_mb']:,.1f} MB as codes"
             f" and {exact['oof_file_mb']:,.1f} MB exact.")
    head = ["stage", "rows A → B", "peak RSS A → B (ratio)", "time A / B"]
    return table(head, rows) + "\n\n" + extra + "\n\n" + footer(doc, "each stage in its own process (VmHWM)")


if __name__ == "__main__":
    main()
