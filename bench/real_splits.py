"""The workflow on the real development splits: every model, the blend, the peers, and which validation ranks them.

Liu et al. 2021 CITE-seq (``bench/liu.py``; B3 is never read): each split trains on one batch's donors and
predicts the other batch's new donors (``b1_to_b2``, ``b2_to_b1``). Each split runs twice, with the default
configuration only the validation differing:

* ``grouped`` — the defaults: folds hold out whole donors (``folds.strategy: auto``), each early-stopping epoch
  is chosen on donors the model did not train on, and the blend weights on every out-of-fold cell
  (``ensemble.fit_on: auto``);
* ``random`` — the seed solution's validation (the previous defaults): folds stratified on the adversarial
  good-validation label (``folds.strategy: stratified``), weights fit on the good-validation cells.

Per split it reports each member's and the blend's score on the test batch (openproblems predict_modality's
metrics, the targets' units: Seurat's CLR of the ADT counts), beside the peers of ``bench/peers.py``; and, per
validation score (random-fold CV, good-validation CV, donor-grouped CV), its Spearman rank correlation with the
members' scores on the test batch: the score that picks the blend must rank the members as new donors do. The
default run's time and peak RSS per rule (Snakemake's ``benchmark:`` files) give its cost at real size.

Run: ``.venv/bin/python bench/real_splits.py [--splits …] [--workdir DIR] [--cores 2]`` (``make real-splits``).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
VARIANTS = {
    "grouped": {},
    "random": {"folds": {"strategy": "stratified"}, "ensemble": {"fit_on": "good_validation"}},
}
VALIDATION = {  # validation score → (variant, metrics key)
    "random-fold CV": ("random", "cv_pearson"),
    "good-validation CV": ("random", "cv_pearson_good_validation"),
    "donor-grouped CV": ("grouped", "cv_pearson"),
}
SIMPLE = ("ridge", "krr")  # the workflow's own simple methods, counted among the goal's bar
LEAD = 0.01  # the blend's per-cell lead asked over the best simple method or peer


def run_workflow(split_config: Path, variant: str, workdir: Path, cores: int) -> float:
    """One run of the workflow (its default config, the split's input, the variant's validation); its seconds.

    The seconds are kept in the run folder (``workflow_seconds.json``): a later call that finds nothing to do
    reports the run that made the results, not the no-op."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "variant.yaml").write_text(yaml.safe_dump(VARIANTS[variant] or {"folds": {"strategy": "auto"}}))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(split_config), str(workdir / "variant.yaml"), "--cores", str(cores),
           "--resources", "gpu=1", "--quiet"]
    kept = workdir / "workflow_seconds.json"
    plan = subprocess.run([*cmd, "-n"], capture_output=True, text=True, check=True)
    if "Nothing to be done" in plan.stdout + plan.stderr and kept.exists():
        return float(json.loads(kept.read_text())["seconds"])
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    seconds = time.perf_counter() - t0
    kept.write_text(json.dumps({"seconds": seconds}))
    return seconds


def collect(workdir: Path) -> dict:
    """A run's members (CV, good-validation CV, test metrics), blend (held-out CV, weights, test metrics), baseline."""
    results = workdir / "results"
    score = json.loads((results / "score.json").read_text())["cite"]
    ens = json.loads((results / "cite" / "ensemble" / "metrics.json").read_text())
    field = score["field_metrics"]
    members = {}
    for name in score["models"]:
        metrics = json.loads((results / "cite" / "models" / name / "metrics.json").read_text())
        members[name] = {"cv_pearson": metrics["cv_pearson"],
                         "cv_pearson_good_validation": metrics.get("cv_pearson_good_validation"),
                         "test": field["models"][name]}
    return {"n_test_cells": score["n_cells"], "members": members,
            "blend": {"cv_pearson_holdout": ens["cv_pearson_holdout"], "weights": ens["weights"],
                      "fit_on": ens["fit_on"], "test": field["blend"]},
            "mean_profile": field["baseline_mean_profile"],
            "oracle_protein_offsets": oracle_offsets(results / "cite")}


def oracle_offsets(results: Path) -> float:
    """An oracle, not a method: the blend's per-cell r on the test batch once each protein's mean error there is
    added back, i.e. had the blend known the test batch's per-protein offsets (what the batch shifts in every cell,
    e.g. an antibody's staining); how much of the gap between CV and the test batch those offsets make."""
    import anndata as ad
    import numpy as np

    from msci.metrics import row_pearson

    truth = ad.read_h5ad(results / "ingest" / "test_targets.h5ad")
    pred = ad.read_h5ad(results / "predictions.h5ad")[truth.obs_names, truth.var_names]
    y = np.asarray(truth.X.toarray() if hasattr(truth.X, "toarray") else truth.X, dtype=np.float64)
    p = np.asarray(pred.X, dtype=np.float64)
    return float(row_pearson(y, p + (y - p).mean(axis=0)).mean())


def rule_costs(workdir: Path) -> dict[str, dict[str, float]]:
    """Each job's wall seconds and peak RSS (GB) from the run's Snakemake benchmark files."""
    out = {}
    for path in sorted((workdir / "benchmarks").glob("**/*.tsv")):
        with open(path) as f:
            row = next(csv.DictReader(f, delimiter="\t"))
        job = str(path.relative_to(workdir / "benchmarks").with_suffix(""))
        rss = row.get("max_rss", "NA")
        out[job] = {"seconds": float(row["s"]), "peak_rss_gb": float(rss) / 1024 if rss not in ("NA", "-") else None}
    return out


def spearman(a: list[float], b: list[float]) -> float | None:
    """Spearman's rank correlation of two equally long lists (``None`` below three values or without spread)."""
    from scipy.stats import spearmanr

    if len(a) < 3:
        return None
    r = spearmanr(a, b).statistic
    return None if r != r else float(r)


def rank_agreement(runs: dict) -> dict[str, dict]:
    """Per validation score: each member's value, and the Spearman correlation with the members' test scores."""
    out = {}
    for label, (variant, key) in VALIDATION.items():
        members = runs[variant]["members"]
        names = sorted(n for n in members if members[n][key] is not None)
        valid = [members[n][key] for n in names]
        test = [members[n]["test"]["mean_pearson_per_cell"] for n in names]
        out[label] = {"members": dict(zip(names, valid, strict=True)), "spearman_with_test": spearman(valid, test)}
    return out


SPLIT_LABEL = {"b1_to_b2": "B1 → B2", "b2_to_b1": "B2 → B1"}
METRIC_COLUMNS = (("mean_pearson_per_cell", "per-cell r"), ("mean_pearson_per_gene", "per-protein r"),
                  ("rmse", "RMSE"))


def test_rows(doc: dict, peers: dict | None) -> dict[str, dict[str, dict]]:
    """Row label → split → test metrics: the default run's members and blend, the peers, the mean profile."""
    rows: dict[str, dict[str, dict]] = {}
    for split, res in doc["results"]["splits"].items():
        run = res["runs"].get("grouped") or next(iter(res["runs"].values()))
        for name, m in run["members"].items():
            rows.setdefault(name, {})[split] = m["test"]
        rows.setdefault("blend", {})[split] = run["blend"]["test"]
        for name, p in ((peers or {}).get("results", {}).get("splits", {}).get(split, {}).get("peers", {})).items():
            if "skipped" not in p:
                rows.setdefault(name, {})[split] = p
        rows.setdefault("training mean profile", {})[split] = run["mean_profile"]
        if "oracle_protein_offsets" in run:
            rows.setdefault(ORACLE, {})[split] = {"mean_pearson_per_cell": run["oracle_protein_offsets"]}
    return rows


def goal(rows: dict[str, dict[str, dict]], split: str) -> tuple[str, float] | None:
    """The best simple method or peer on ``split`` (per-cell Pearson) and the blend's lead over it."""
    bar = {n: r[split]["mean_pearson_per_cell"] for n, r in rows.items()
           if split in r and (n in SIMPLE or n in PEER_NAMES)}
    if not bar or split not in rows.get("blend", {}):
        return None
    best = max(bar, key=bar.get)
    return best, rows["blend"][split]["mean_pearson_per_cell"] - bar[best]


def render(doc: dict, part: str | None = None) -> str:
    """``headline``: every model's test metrics per split with the goal; ``validation``: rank agreement of each
    validation score; ``cost``: the default run's seconds and peak RSS per rule."""
    from record import fmt, footer, load, table

    splits = list(doc["results"]["splits"])
    if part == "validation":
        head = ["split", "validation score", "Spearman with the test batch", "members' scores (test batch: "
                "per-cell r)", "the run's blend on the test batch (its weights fit on)"]
        body = []
        for split in splits:
            res = doc["results"]["splits"][split]
            for label, r in (res["rank_agreement"] or {}).items():
                variant = VALIDATION[label][0]
                run = res["runs"][variant]
                members = ", ".join(f"{n} {fmt(v, 3)} ({fmt(run['members'][n]['test']['mean_pearson_per_cell'], 3)})"
                                    for n, v in sorted(r["members"].items(), key=lambda kv: -kv[1]))
                body.append([SPLIT_LABEL[split], label, fmt(r["spearman_with_test"], 2), members,
                             fmt(run["blend"]["test"]["mean_pearson_per_cell"], 4) + f" ({run['blend']['fit_on']})"])
        return table(head, body) + "\n\n" + footer(doc, "members ordered by the validation score")
    if part == "cost":
        head = ["rule", *(f"{SPLIT_LABEL[s]}: seconds / peak RSS GB" for s in splits)]
        jobs = sorted({j for s in splits for j in (doc["results"]["splits"][s]["rule_costs"] or {})})
        body = [[j, *(_cost(doc["results"]["splits"][s]["rule_costs"].get(j)) for s in splits)] for j in jobs]
        total = ["whole run (wall)", *(f"{doc['results']['splits'][s]['workflow_seconds']['grouped'] / 60:.0f} min"
                                       for s in splits)]
        return table(head, [*body, total]) + "\n\n" + footer(doc, "the default (grouped) run; 2 cores")
    peers = load("peers")
    rows = test_rows(doc, peers)
    head = ["model", *(f"{SPLIT_LABEL[s]}: {label}" for s in splits for _, label in METRIC_COLUMNS)]
    body = [[LABELS.get(n, n), *(fmt(r[s][k], 3) if s in r and k in r[s] else "–" for s in splits
                                 for k, _ in METRIC_COLUMNS)] for n, r in rows.items()]
    leads = []
    for s in splits:
        got = goal(rows, s)
        if got:
            leads.append(f"{SPLIT_LABEL[s]}: blend {got[1]:+.4f} over {got[0]} (asked +{LEAD})")
    cells = ", ".join(f"{SPLIT_LABEL[s]} {doc['results']['splits'][s]['runs']['grouped']['n_test_cells']:,}"
                      for s in splits if "grouped" in doc["results"]["splits"][s]["runs"])
    note = (f"test cells (new donors): {cells}; goal, per-cell r: {'; '.join(leads)}; the oracle row is no method: "
            "the blend with each protein's mean error on the test batch added back")
    text = table(head, body) + "\n\n" + footer(doc, note)
    return text + ("\n\n" + footer(peers, "peers") if peers else "")


def _cost(c: dict | None) -> str:
    if not c:
        return "–"
    rss = f"{c['peak_rss_gb']:.2f}" if c["peak_rss_gb"] is not None else "–"
    return f"{c['seconds']:.0f} / {rss}"


PEER_NAMES = ("guanlab", "knn", "totalvi")
ORACLE = "oracle: the blend + the test batch's per-protein offsets"
LABELS = {"ridge": "ridge (SVD + ridge baseline)", "krr": "krr (kernel ridge, tuned)",
          "guanlab": "Guanlab's kernel ridge as published", "knn": "KNN (openproblems knnr_py)",
          "totalvi": "totalVI (scvi-tools 1.4)"}


def main() -> None:
    from liu import SPLITS, prepare
    from record import save

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--cache", type=Path, default=None, help="bench/liu.py's cache folder")
    ap.add_argument("--workdir", type=Path, default=BENCH / "out" / "real_splits")
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    files = prepare(args.cache)
    splits = {}
    for split in args.splits:
        runs, seconds = {}, {}
        for variant in args.variants:
            workdir = (args.workdir / split / variant).resolve()
            seconds[variant] = run_workflow(files[f"{split}.yaml"], variant, workdir, args.cores)
            runs[variant] = collect(workdir)
            blend = runs[variant]["blend"]["test"]["mean_pearson_per_cell"]
            print(f"{split}_{variant}_blend_test: {blend:.4f} ({seconds[variant]:.0f} s)", flush=True)
            for name, m in runs[variant]["members"].items():
                print(f"{split}_{variant}_{name}: cv {m['cv_pearson']:.4f} test "
                      f"{m['test']['mean_pearson_per_cell']:.4f}", flush=True)
        splits[split] = {"runs": runs, "workflow_seconds": seconds,
                         "rank_agreement": rank_agreement(runs) if set(VARIANTS) <= set(runs) else None,
                         "rule_costs": rule_costs((args.workdir / split / "grouped").resolve())
                         if "grouped" in runs else None}
        for label, r in (splits[split]["rank_agreement"] or {}).items():
            print(f"{split} {label}: Spearman with the test batch {r['spearman_with_test']}", flush=True)
    save("real_splits", {"splits": splits}, {"splits": args.splits, "variants": args.variants, "cores": args.cores})


if __name__ == "__main__":
    main()
