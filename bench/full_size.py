"""The whole competition at its real size on this machine: competition-shaped files, one run, every rule measured.

Three steps, each resumable (a finished one is skipped):

* ``write``: the nine competition files at the real shapes (CITE 70,988 + 48,663 cells × 22,050 genes
  → 140 proteins; Multiome 105,942 + 55,935 cells × 228,942 peaks → 23,418 genes; 65.7 M evaluation
  rows), in row chunks, never whole in memory: pandas fixed format, blosc:lz4, as the competition's.
  Values are sparse and random around a low-rank cell state shared by inputs and targets (cell type,
  day), so the models have something to learn; the metadata follows the competition's days, donors
  and public/private split. Runs the CITE and the Multiome writer side by side (2 processes).
* ``run``: the default workflow on those files, restricted to ridge and the MLP (both tasks, so every
  default feature family is built) for a few epochs (``--epochs``) and one bag, on the CPU.
* ``table``: every rule's wall time and peak RSS from its ``benchmarks/`` file, the largest peak,
  the neural models' seconds per epoch from their logs and, from those, the full run's estimate
  (default epochs and bags), as ``key: value`` lines and a Markdown table. At fewer cells than the
  competition's, the rules other than model fits are also scaled to its cells (linear in cells) and,
  with ``bench/model_cost.py``'s full-size model fits, give the default run's estimate at full size.

Run: ``.venv/bin/python bench/full_size.py all --data DIR --workdir DIR``: at full size, hours and
~70 GB of disk. Smaller, at full widths: ``--cite 7000 4800 --multi 10000 5500``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow" / "scripts"))
sys.path.insert(0, str(REPO / "bench"))

from record import footer, save  # noqa: E402
from record import table as markdown_table  # noqa: E402
from repo_config import default_models  # noqa: E402

# (train cells, test cells, inputs, targets) of the competition's files.
FULL = {"cite": (70_988, 48_663, 22_050, 140), "multi": (105_942, 55_935, 228_942, 23_418)}
DENSITY = {"cite": 0.2, "multi": 0.03}  # base non-zero share (ENVIRONMENT.md); cell states raise it (3.5 %)
MULTI_EVAL_GENES = 1_054  # genes scored per Multiome test cell: 58.96 M rows, as the real 58.93 M
CHUNK = {"cite": 2000, "multi": 250}
BUDGET_H = 6.0  # the default run at full size on a 2-core machine must stay within it (issue 25)
WRITE_STATS, RUN_STATS = "write_stats.json", "run_stats.json"  # the write and run steps' times, for the table step
LATENT = 8


def _rngs(seed: int) -> dict[str, np.random.Generator]:
    """Independent streams, so each writer process derives the same cells without the others."""
    names = ("cells", "cite", "multi", "eval")
    return dict(zip(names, (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(names))),
                    strict=True))


def cell_tables(sizes: dict[str, tuple[int, int]], seed: int) -> dict[str, pd.DataFrame]:
    """Per modality: cell_id, split, day, donor and cell type (index into ``CELL_TYPES``), train first."""
    from msci.simulate import CELL_TYPES, ModalitySize, _cell_ids, _cells

    rng = _rngs(seed)["cells"]
    ids = _cell_ids(rng, sum(sum(s) for s in sizes.values()))
    out, offset = {}, 0
    for m, (n_train, n_test) in sizes.items():
        cells = _cells(rng, m, ModalitySize(n_train, n_test, 1, 1))
        cells["cell_id"] = ids[offset: offset + len(cells)]
        cells["type"] = rng.integers(0, len(CELL_TYPES), len(cells))
        out[m], offset = cells, offset + len(cells)
    return out


def _names(modality: str, rng: np.random.Generator, n_inputs: int, n_targets: int) -> tuple[np.ndarray, np.ndarray]:
    from msci.simulate import PROTEIN_GENES, _peaks

    if modality == "multi":
        peaks, _ = _peaks(rng, n_inputs)
        genes = np.char.mod("ENSG%011d", rng.choice(np.arange(100_000, 300_000), n_targets, replace=False))
        return peaks, genes.astype(object)
    proteins = [p for p, _ in PROTEIN_GENES] + [f"CD{300 + i}" for i in range(n_targets)]
    proteins = proteins[:n_targets]
    symbols = list(dict.fromkeys(g for _, gs in PROTEIN_GENES for g in gs))[: n_inputs // 2]
    symbols += [f"GENE{i}" for i in range(n_inputs - len(symbols))]
    ensg = np.char.mod("ENSG%011d", rng.choice(np.arange(100_000, 300_000), n_inputs, replace=False))
    return (ensg.astype(object) + "_" + np.array(symbols, dtype=object))[rng.permutation(n_inputs)], \
        np.array(proteins, dtype=object)


def _sparse_rows(rng: np.random.Generator, z: np.ndarray, modules: np.ndarray, density: float) -> np.ndarray:
    """Dense float32 rows, ``density`` non-zero on average: each latent dimension opens its own module of columns.

    Non-zeros are placed by count (Poisson per cell × module), not by a uniform draw per entry, so
    a 250 × 228,942 block costs ~1.7 M random numbers rather than 57 M.
    """
    n, p = len(z), modules.shape[0]
    m = LATENT + 1  # the last module is background
    bounds = np.linspace(0, p, m + 1).astype(np.int64)
    rate = density * np.exp(np.c_[0.8 * z, np.zeros(n)] - 0.3)
    counts = rng.poisson(rate * np.diff(bounds)[None, :])
    module = np.repeat(np.tile(np.arange(m), n), counts.ravel())
    rows = np.repeat(np.arange(n), counts.sum(axis=1))
    cols = modules[bounds[module] + (rng.random(len(module)) * np.diff(bounds)[module]).astype(np.int64)]
    block = np.zeros((n, p), np.float32)
    block[rows, cols] = rng.gamma(2.0, 1.0, len(cols)).astype(np.float32)
    return block


def write_modality(root: Path, modality: str, cells: pd.DataFrame, n_inputs: int, n_targets: int,
                   seed: int) -> None:
    """One modality's train/test inputs and train targets, chunk by chunk."""
    from msci.io.competition import FrameWriter
    from msci.simulate import CELL_TYPES

    rng = _rngs(seed)[modality]
    in_names, tg_names = _names(modality, rng, n_inputs, n_targets)
    centers = 1.2 * rng.standard_normal((len(CELL_TYPES), LATENT))
    drift = 0.3 * rng.standard_normal(LATENT)
    modules = rng.permutation(n_inputs)
    load = rng.standard_normal((LATENT, n_targets)) * (0.5 if modality == "multi" else 1.0)
    level = rng.normal(1.0, 1.0, n_targets)
    chunk = CHUNK[modality]
    for split in ("train", "test"):
        part = cells[cells["split"] == split]
        with ExitStack() as stack:
            writers = [stack.enter_context(FrameWriter(root / f"{split}_{modality}_inputs.h5", part["cell_id"],
                                                       in_names))]
            if split == "train":
                writers.append(stack.enter_context(FrameWriter(root / f"train_{modality}_targets.h5",
                                                               part["cell_id"], tg_names)))
            for s in range(0, len(part), chunk):
                c = part.iloc[s: s + chunk]
                z = (centers[c["type"].to_numpy()] + 0.1 * (c["day"].to_numpy() - 2)[:, None] * drift
                     + 0.6 * rng.standard_normal((len(c), LATENT))).astype(np.float32)
                writers[0].append(_sparse_rows(rng, z, modules, DENSITY[modality]))
                if split == "train":
                    h = z @ load
                    if modality == "multi":  # log1p expression: skewed, mostly small
                        y = np.log1p(rng.gamma(0.3, np.exp(h - 1.0)).astype(np.float32))
                    else:  # dsb-like protein levels
                        y = level + h + 0.5 * rng.standard_normal(h.shape)
                    writers[1].append(y.astype(np.float32))
                if s // chunk % 40 == 0:
                    print(f"{modality} {split}: {s + len(c)} of {len(part)} rows", file=sys.stderr, flush=True)


def write_metadata(root: Path, tables: dict[str, pd.DataFrame]) -> None:
    """``metadata.csv`` of every modality's cells, test cell types hidden."""
    from msci.io.artifacts import atomic_path
    from msci.io.competition import METADATA, TECHNOLOGY
    from msci.simulate import CELL_TYPES

    meta = pd.concat([pd.DataFrame({
        "cell_id": t["cell_id"], "day": t["day"], "donor": t["donor"],
        "cell_type": np.where(t["split"] == "train", np.array(CELL_TYPES, dtype=object)[t["type"]], "hidden"),
        "technology": TECHNOLOGY[m]}) for m, t in tables.items()], ignore_index=True)
    with atomic_path(root / METADATA) as tmp:
        meta.to_csv(tmp, index=False)


def write_tables(root: Path, tables: dict[str, pd.DataFrame], widths: dict[str, tuple[int, int]], seed: int) -> None:
    """``metadata.csv``, ``evaluation_ids.csv`` (every CITE protein; ``MULTI_EVAL_GENES`` genes per
    Multiome test cell) and ``sample_submission.csv``, streamed with PyArrow.

    ``widths``: per modality (inputs, targets), as given to :func:`write_modality`.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from msci.io.artifacts import atomic_path
    from msci.io.competition import EVALUATION_IDS, SAMPLE_SUBMISSION

    rng = _rngs(seed)["eval"]
    write_metadata(root, tables)
    names = {m: _names(m, _rngs(seed)[m], *widths[m])[1] for m in tables}
    eval_schema = pa.schema([("row_id", pa.int64()), ("cell_id", pa.string()), ("gene_id", pa.string())])
    sub_schema = pa.schema([("row_id", pa.int64()), ("target", pa.float64())])
    with atomic_path(root / EVALUATION_IDS) as ev_tmp, atomic_path(root / SAMPLE_SUBMISSION) as sub_tmp, \
            pacsv.CSVWriter(str(ev_tmp), eval_schema) as ev, pacsv.CSVWriter(str(sub_tmp), sub_schema) as sub:
        row = 0
        for m, t in tables.items():
            test_ids = t.loc[t["split"] == "test", "cell_id"].to_numpy()
            genes = names[m]
            per_cell = len(genes) if m == "cite" else min(MULTI_EVAL_GENES, len(genes))
            for s in range(0, len(test_ids), 2000):
                ids = test_ids[s: s + 2000]
                if per_cell == len(genes):
                    g = np.tile(np.arange(len(genes)), len(ids))
                else:
                    g = np.sort(np.argpartition(rng.random((len(ids), len(genes))), per_cell, axis=1)[:, :per_cell],
                                axis=1).ravel()
                rows = np.arange(row, row + len(g), dtype=np.int64)
                ev.write_table(pa.table({"row_id": rows, "cell_id": np.repeat(ids, per_cell), "gene_id": genes[g]},
                                        schema=eval_schema))
                sub.write_table(pa.table({"row_id": rows, "target": np.zeros(len(rows))}, schema=sub_schema))
                row += len(g)
    print(f"evaluation rows: {row}", flush=True)


def sizes_from(args) -> dict[str, tuple[int, int]]:
    return {"cite": tuple(args.cite), "multi": tuple(args.multi)}


def write(args) -> None:
    from msci.io.competition import EVALUATION_IDS, METADATA, SAMPLE_SUBMISSION, input_files

    root = Path(args.data)
    root.mkdir(parents=True, exist_ok=True)
    sizes = sizes_from(args)
    tables = cell_tables(sizes, args.seed)
    if args.part:  # one writer process
        t0 = time.perf_counter()
        if args.part == "tables":
            write_tables(root, tables, {m: FULL[m][2:] for m in sizes}, args.seed)
        else:
            write_modality(root, args.part, tables[args.part], FULL[args.part][2], FULL[args.part][3], args.seed)
        print(f"write_{args.part}_seconds: {time.perf_counter() - t0:.0f}", flush=True)
        return
    files = [METADATA, EVALUATION_IDS, SAMPLE_SUBMISSION] + [f for m in sizes for f in input_files(m).values()]
    if all((root / f).exists() for f in files):  # each file appears only once complete (atomic writers)
        print(f"{root}: already written", flush=True)
        return
    t0 = time.perf_counter()
    base = [sys.executable, __file__, "write", "--data", str(root), "--seed", str(args.seed),
            "--cite", *map(str, args.cite), "--multi", *map(str, args.multi)]
    multi = subprocess.Popen([*base, "--part", "multi"])
    for part in ("cite", "tables"):
        subprocess.run([*base, "--part", part], check=True)
    if multi.wait():
        raise SystemExit("the Multiome writer failed")
    gb = sum(f.stat().st_size for f in root.iterdir()) / 1e9
    stats = {"seconds": time.perf_counter() - t0, "gb_on_disk": gb}
    (root / WRITE_STATS).write_text(json.dumps(stats))
    print(f"write_all_seconds: {stats['seconds']:.0f}")
    print(f"data_gb_on_disk: {gb:.1f}", flush=True)


def run_config(data: Path, epochs: int) -> dict:
    """The default models restricted to ridge and the MLP (both tasks; few epochs, one bag): every feature family
    of the default models is built (the CITE MLP reads all of the CITE ones)."""
    defaults = default_models()
    models = {name: {"modalities": []} for name in defaults}
    models["ridge"] = {"modalities": ["cite", "multi"]}
    models["mlp"] = {"modalities": ["cite", "multi"], "params": {"epochs": epochs, "n_bags": 1}}
    return {"data_dir": str(data.resolve()), "models": models}


def scaled_hours(rules: list[dict], sizes: dict[str, tuple[int, int]]) -> float:
    """The rules other than model fits, their time scaled to the competition's cells (linear in the cells of the
    rule's task; a rule of both tasks by all cells): what the run's non-model steps would take at full size."""
    cells = {m: sum(s) for m, s in sizes.items()}
    full = {m: FULL[m][0] + FULL[m][1] for m in cells}
    total = 0.0
    for r in rules:
        rule, task = _rule_and_task(r["rule"])
        if rule.startswith(("train_model", "tabnet_pretrain", "tune")):
            continue
        factor = full[task] / cells[task] if task else sum(full.values()) / sum(cells.values())
        total += r["seconds"] * factor
    return total / 3600


def model_fit_hours() -> float | None:
    """The default models' fits at full size, at most (``bench/model_cost.py``'s result), if measured."""
    path = REPO / "bench" / "results" / "model_cost.json"
    return json.loads(path.read_text())["results"]["default_total_h"] if path.exists() else None


def run(args) -> None:
    work = Path(args.workdir).resolve()  # Snakemake runs in it: relative paths would resolve from there
    work.mkdir(parents=True, exist_ok=True)
    config = work / "full_size.yaml"
    config.write_text(yaml.safe_dump(run_config(Path(args.data), args.epochs), sort_keys=False))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(work),
                    "--configfile", str(config), "--cores", str(args.cores), "--resources", "gpu=1",
                    "--rerun-incomplete", *args.snakemake], check=True, cwd=work)
    seconds = time.perf_counter() - t0
    (work / RUN_STATS).write_text(json.dumps({"seconds": seconds}))
    print(f"workflow_seconds: {seconds:.0f}", flush=True)


EPOCH = re.compile(r"epoch (\d+)/\d+:.*\((\d+(?:\.\d+)?) s\)$")


def epoch_seconds(log: Path) -> tuple[int, int, float] | None:
    """Networks, epochs and their seconds in a neural model's log, over all its networks (folds, bags, full fit).

    Each network logs ``epoch k/N: … (T s)`` with T counted from its first epoch, so a network's
    last line gives its epochs and time.
    """
    last: list[tuple[int, float]] = []
    for line in log.read_text().splitlines():
        hit = EPOCH.search(line)
        if hit:
            k, t = int(hit.group(1)), float(hit.group(2))
            if k == 1 or not last:
                last.append((k, t))
            else:
                last[-1] = (k, t)
    if not last:
        return None
    return len(last), sum(k for k, _ in last), sum(t for _, t in last)


def rule_rows(work: Path) -> list[dict]:
    """Every rule's wall time and peak RSS from its ``benchmarks/`` file."""
    rows = []
    for f in sorted((work / "benchmarks").rglob("*.tsv")):
        b = pd.read_csv(f, sep="\t")
        rows.append({"rule": str(f.relative_to(work / "benchmarks").with_suffix("")), "seconds": float(b["s"].iloc[0]),
                     "peak_rss_gb": float(b["max_rss"].iloc[0]) / 1024})
    return rows


def network_rows(work: Path) -> list[dict]:
    """Per neural model log: networks, epochs, seconds and the bound at the default epochs and bags."""
    from msci.models.registry import make_model

    defaults = default_models()
    config = work / "full_size.yaml"
    run_models = yaml.safe_load(config.read_text())["models"] if config.exists() else {}
    out = []
    for log in sorted((work / "logs").rglob("*.log")):
        got = epoch_seconds(log)
        if got is None:
            continue
        nets, epochs, seconds = got
        row = {"log": str(log.relative_to(work / "logs").with_suffix("")), "networks": nets, "epochs": epochs,
               "seconds": seconds}
        entry = defaults.get(log.stem)  # its parameters, the estimator's defaults filled in
        params = make_model(entry["type"], entry.get("params", {})).get_params() if entry else {}
        ran = ((run_models.get(log.stem) or {}).get("params") or {}).get("n_bags", params.get("n_bags", 1))
        if "epochs" in params:  # every network at the default epochs (no early stop) and bags
            row |= {"default_epochs": params["epochs"], "default_bags": params.get("n_bags", 1),
                    "default_hours_at_most": seconds / epochs * params["epochs"] * nets * params.get("n_bags", 1)
                    / ran / 3600}
        out.append(row)
    return out


def _stats(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def table_step(args) -> None:
    """Print and save every rule's time and peak RSS, the networks' epoch times, the write and run times."""
    work = Path(args.workdir)
    rules, nets = rule_rows(work), network_rows(work)
    for r in rules:
        print(f"{r['rule']}: {r['seconds']:.0f} s, {r['peak_rss_gb']:.2f} GB")
    print(f"rules: {len(rules)}")
    print(f"sum_of_rule_seconds: {sum(r['seconds'] for r in rules):.0f}")
    top = max(rules, key=lambda r: r["peak_rss_gb"])
    print(f"largest_peak_rss_gb: {top['peak_rss_gb']:.2f} ({top['rule']})")
    for n in nets:
        print(f"{n['log']}: {n['networks']} networks, {n['epochs']} epochs in {n['seconds']:.0f} s, "
              f"{n['seconds'] / n['epochs']:.1f} s per epoch")
        if "default_epochs" in n:
            print(f"{n['log']}: default {n['default_epochs']} epochs x {n['default_bags']} bags, "
                  f"at most {n['default_hours_at_most']:.1f} h on this CPU")
    non_model, fits = scaled_hours(rules, sizes_from(args)), model_fit_hours()
    print(f"non_model_rules_scaled_to_full_size_h: {non_model:.2f}")
    if fits is not None:
        print(f"default_run_at_full_size_h: {non_model + fits:.2f} (model fits at most {fits:.2f}, model_cost.json)")
    results = {"rules": rules, "networks": nets, "write": _stats(Path(args.data) / WRITE_STATS),
               "run": _stats(work / RUN_STATS), "sizes": sizes_from(args), "epochs": args.epochs,
               "non_model_scaled_h": non_model}
    config = {k: v for k, v in vars(args).items() if k != "part"}
    print("\n" + render(json.loads(save("full_size", results, config).read_text())))


TASK_COLUMNS = {"cite": "CITE: time, peak RSS", "multi": "Multiome: time, peak RSS"}


def _rule_and_task(rule: str) -> tuple[str, str | None]:
    """A benchmark path (``train_model/cite/ridge``) as its rule name and task (``None``: both tasks)."""
    parts = rule.split("/")
    task = next((p for p in parts if p in TASK_COLUMNS), None)
    return " ".join(p for p in parts if p != task), task


def render(doc: dict, part: str | None = None) -> str:
    """Every rule's time and peak RSS per task, then the write and run times and the networks' epoch times."""
    res = doc["results"]
    cells: dict[str, dict[str | None, str]] = {}
    for r in res["rules"]:
        rule, task = _rule_and_task(r["rule"])
        cells.setdefault(rule, {})[task] = f"{r['seconds']:,.0f} s, {r['peak_rss_gb']:.2f} GB"
    rows = [[f"`{rule}`", *(by.get(t) or (f"{by[None]} (both tasks)" if t == "cite" and None in by else "—")
                            for t in TASK_COLUMNS)] for rule, by in cells.items()]
    text = markdown_table(["rule", *TASK_COLUMNS.values()], rows)
    facts = []
    if res.get("write"):
        w = res["write"]
        facts.append(f"writing the files took {w['seconds'] / 60:.0f} min ({w['gb_on_disk']:.1f} GB)")
    if res.get("run"):
        facts.append(f"the run took {res['run']['seconds'] / 60:.0f} min")
    if res["rules"]:
        top = max(res["rules"], key=lambda r: r["peak_rss_gb"])
        facts.append(f"the largest peak RSS was {top['peak_rss_gb']:.2f} GB (`{top['rule']}`)")
    for n in res["networks"]:
        bound = (f"; at the default {n['default_epochs']} epochs × {n['default_bags']} bags at most "
                 f"{n['default_hours_at_most']:.1f} h on this CPU" if "default_epochs" in n else "")
        facts.append(f"`{n['log']}`: {n['networks']} networks, {n['seconds'] / n['epochs']:.1f} s per epoch{bound}")
    if res.get("non_model_scaled_h") is not None and tuple(map(tuple, res["sizes"].values())) != tuple(
            f[:2] for f in FULL.values()):
        facts.append(f"the rules other than model fits, scaled to the competition's cells (linear in cells), "
                     f"{res['non_model_scaled_h']:.1f} h")
    fits = model_fit_hours()  # read when rendering: model_cost.json is its one home, rerun on its own
    if res.get("non_model_scaled_h") is not None and fits is not None:
        total = res["non_model_scaled_h"] + fits
        facts.append(f"with the default models' fits at full size (at most {fits:.1f} h, "
                     f"`bench/model_cost.py`, its commit in its own footer) the default run at full size is at most "
                     f"{total:.1f} h on this CPU, {'within' if total <= BUDGET_H else 'over'} the {BUDGET_H:g} h "
                     f"budget")
    summary = ("; ".join(facts) + ".") if facts else ""
    sizes = ", ".join(f"{m} {a:,} + {b:,} cells" for m, (a, b) in res["sizes"].items())
    return "\n\n".join(x for x in (text, summary, footer(doc, sizes)) if x)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["write", "run", "table", "all"])
    ap.add_argument("--data", default="full_size_data", help="folder for the competition-shaped files")
    ap.add_argument("--workdir", default="full_size_run", help="folder for the workflow run")
    ap.add_argument("--cite", type=int, nargs=2, default=FULL["cite"][:2], metavar=("TRAIN", "TEST"))
    ap.add_argument("--multi", type=int, nargs=2, default=FULL["multi"][:2], metavar=("TRAIN", "TEST"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=5, help="epochs of the Multiome MLP")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--snakemake", nargs=argparse.REMAINDER, default=[], help="more snakemake options (last)")
    ap.add_argument("--part", choices=["cite", "multi", "tables"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step in ("write", "all"):
        write(args)
    if args.step in ("run", "all"):
        run(args)
    if args.step in ("table", "all"):
        table_step(args)


if __name__ == "__main__":
    main()
