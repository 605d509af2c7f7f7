"""One self-contained HTML page (plots embedded as PNG) that shows which model helps.

A page of our own rather than ``snakemake --report``: the questions users ask here — does the
validation look like the test, which model carries the blend, which proteins are hard — need plots
of the results' contents, not of the DAG and runtimes; one file opens anywhere and is easy to share.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from msci.io.artifacts import atomic_path  # noqa: E402
from msci.io.matrix import MatrixFile  # noqa: E402
from msci.metrics import ColumnPearson  # noqa: E402
from msci.split_codecs import TargetFiles, load_split_codes  # noqa: E402


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _table(rows: Sequence[Mapping], columns: Sequence[str]) -> str:
    def fmt(v):
        return f"{v:.4f}" if isinstance(v, float) else html.escape(str(v if v is not None else "–"))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{fmt(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def adversarial_plot(adversarial: pd.DataFrame, cells: pd.DataFrame, metrics: Mapping) -> str:
    days = cells.loc[adversarial.index, "day"].to_numpy()
    split = np.where(adversarial["is_test"].to_numpy(), "test", "train")
    fig, ax = plt.subplots(figsize=(7, 3.2))
    bins = np.linspace(0, 1, 26)
    for (s, d) in sorted(set(zip(split, days, strict=True)), key=lambda x: (x[0] != "train", x[1])):
        m = (split == s) & (days == d)
        ax.hist(adversarial["p_test"].to_numpy()[m], bins=bins, histtype="step", linewidth=1.5, label=f"{s} day {d}")
    ax.axvline(metrics.get("threshold", 0.5), color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("out-of-fold p(test)")
    ax.set_ylabel("cells")
    ax.set_title(f"adversarial validation: AUC {metrics['auc']:.3f}, "
                 f"{metrics['n_good_validation']} good-validation cells")
    ax.legend(fontsize=7, ncol=2)
    return _png(fig)


def _fmt(x) -> str:
    return f"{x:.4f}" if isinstance(x, float) else "–"


def _num(x) -> float:
    return float(x) if x is not None else np.nan


def models_plot(model_metrics: Mapping[str, Mapping]) -> str:
    """Each model's (and the blend's out-of-sample) scores: all OOF cells, good validation, day out, per day."""
    names = list(model_metrics)
    days = sorted({d for m in model_metrics.values() for d in m.get("cv_pearson_by_day", {})}, key=float)
    series = {"all OOF cells": [_num(m.get("cv_pearson")) for m in model_metrics.values()],
              "good validation": [_num(m.get("cv_pearson_good_validation")) for m in model_metrics.values()],
              "day out": [_num(m.get("cv_pearson_day_out")) for m in model_metrics.values()]}
    for d in days:
        series[f"day {d}"] = [m.get("cv_pearson_by_day", {}).get(d, np.nan) for m in model_metrics.values()]
    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(names) * len(series) / 3), 3.4))
    width = 0.8 / len(series)
    x = np.arange(len(names))
    for i, (label, vals) in enumerate(series.items()):
        ax.bar(x + i * width, vals, width, label=label)
    ax.set_xticks(x + 0.4 - width / 2, names)
    finite = [v for vals in series.values() for v in vals if np.isfinite(v)]
    ax.set_ylim(max(0.0, min(finite) - 0.05) if finite else 0, min(1.0, max(finite) + 0.02) if finite else 1)
    ax.set_ylabel("mean per-cell Pearson")
    ax.legend(fontsize=7, ncol=3)
    return _png(fig)


def weights_plot(weights: Mapping[str, float]) -> str:
    fig, ax = plt.subplots(figsize=(5, 0.5 + 0.35 * len(weights)))
    ax.barh(list(weights), list(weights.values()), color="tab:green")
    ax.set_xlabel("blend weight")
    ax.invert_yaxis()
    return _png(fig)


# Gene values of OOF prediction rows start:stop (codes decoded by the codec of the fold that held each cell out).
Decode = Callable[[int, int, np.ndarray], np.ndarray]


def per_target_pearson(oofs: Mapping[str, MatrixFile], weights: Mapping[str, float], decode: Decode,
                       targets: MatrixFile, chunk_rows: int = 2048) -> pd.Series:
    """Pearson across cells of each target between the blend's OOF predictions and the targets, by row blocks.

    The blend here is the weighted sum of the models' own (unstandardised) predictions: standardising
    each cell's profile, as the blend for the per-cell metric does, would distort comparisons across cells.
    ``decode`` turns each block's blended rows into gene values (:meth:`SplitCodes.decode_held_out`).
    """
    for f in oofs.values():
        if list(f.obs_names) != list(targets.obs_names):
            raise ValueError(f"{f.path}: cells differ from {targets.path}")
    total = sum(weights.get(n, 0.0) for n in oofs) or 1.0
    acc = ColumnPearson(targets.shape[1])
    for start, stop, y in targets.iter_chunks(chunk_rows):
        y = y.toarray() if hasattr(y, "toarray") else y
        raw = sum(np.float32(weights.get(n, 0.0) / total) * np.asarray(f.read(start, stop), dtype=np.float32)
                  for n, f in oofs.items() if weights.get(n, 0.0) > 0)
        acc.update(y, decode(start, stop, raw))
    return pd.Series(acc.result(), index=targets.var_names)


def per_target_plot(r: pd.Series, max_bars: int = 150) -> str:
    """Pearson across cells of each target (how well the blend ranks cells for that target)."""
    r = r.sort_values()
    if len(r) <= max_bars:
        fig, ax = plt.subplots(figsize=(max(6, 0.12 * len(r)), 3.2))
        ax.bar(range(len(r)), r.to_numpy(), color="tab:blue")
        ax.set_xticks(range(len(r)), r.index, rotation=90, fontsize=6)
        ax.set_ylabel("Pearson across cells (OOF)")
    else:
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.hist(r.to_numpy(), bins=40, color="tab:blue")
        ax.set_xlabel(f"Pearson across cells (OOF), {len(r)} targets")
        ax.set_ylabel("targets")
    return _png(fig)


def calibration_plot(calibration: Mapping) -> str:
    """The cells binned by their fold spread: each bin's mean spread against its mean error (a calibrated spread
    rises with the error)."""
    bins = calibration["bins"]
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([b["fold_sd_mean"] for b in bins], [b["rmse"] for b in bins], "o-", color="tab:blue")
    ax.set_xlabel("mean fold spread (fold_sd_mean), per bin")
    ax.set_ylabel("mean RMSE of the blend, per bin")
    ax.set_title(f"{calibration['n_cells']} cells in {len(bins)} bins of equal size", fontsize=8)
    return _png(fig)


def study_section(model: str, paths: Mapping[str, str]) -> list[str]:
    """A hyperparameter study: every trial's value by trial number with the best so far, the params'
    importances (fANOVA) and the best params."""
    import yaml

    trials = pd.read_csv(paths["trials"])
    done = trials[trials["state"] == "COMPLETE"].sort_values("number")
    importances = json.loads(Path(paths["importances"]).read_text())["importances"]
    best = yaml.safe_load(Path(paths["best"]).read_text())
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    axes[0].plot(done["number"], done["value"], "o", color="tab:blue", alpha=0.6, label="trial")
    axes[0].plot(done["number"], done["value"].cummax(), "-", color="tab:red", label="best so far")
    axes[0].set_xlabel("trial")
    axes[0].set_ylabel("CV Pearson (good validation)")
    axes[0].legend(fontsize=7)
    names = sorted(importances, key=importances.get)
    axes[1].barh(names, [importances[n] for n in names], color="tab:blue")
    axes[1].set_xlabel("importance (fANOVA)")
    counts = ", ".join(f"{n} {k.lower()}" for k, n in trials["state"].value_counts().items())
    return [f"<h3>Study: {html.escape(model)}</h3>",
            f"<p>{len(trials)} trials ({html.escape(counts)}); best {best['value']:.4f} (trial {best['trial']}) "
            f"with <code>{html.escape(json.dumps(best['params']))}</code></p>", _png(fig)]


# The field's metrics (openproblems predict_modality) the own-data score table shows beside the per-cell Pearson.
FIELD_COLUMNS = ["rmse", "mae", "mean_spearman_per_cell", "mean_pearson_per_gene", "overall_pearson"]


def score_section(score: Mapping[str, Mapping]) -> list[str]:
    """The test score: public/private days of the competition's hidden targets, or own data's test
    cells (overall and per annotated cell type)."""
    if all("pearson" in v for v in score.values()):
        parts = ["<h2>Score on the test cells' own targets</h2>"]
        for k, v in score.items():
            rows = [{"predictor": "blend", "pearson": v["pearson"]}]
            rows += [{"predictor": n, "pearson": x} for n, x in (v.get("models") or {}).items()]
            if "baseline_mean_profile" in v:
                rows.append({"predictor": "training mean profile", "pearson": v["baseline_mean_profile"]})
            field = v.get("field_metrics") or {}
            units = {"blend": field.get("blend"), **(field.get("models") or {}),
                     "training mean profile": field.get("baseline_mean_profile")}
            for row in rows:  # the field's metrics in the targets' units, where scored
                row.update({m: (units.get(row["predictor"]) or {}).get(m) for m in FIELD_COLUMNS})
            columns = ["predictor", "pearson", *(FIELD_COLUMNS if field else [])]
            parts += [f"<h3>{html.escape(k)}: {v['n_cells']} test cells</h3>", _table(rows, columns)]
            if v.get("fold_sd_vs_error"):
                parts.append(f"<p>Does the fold models' spread (<code>fold_sd</code>) track the blend's error? "
                             f"Spearman of each cell's mean spread with its RMSE: "
                             f"{v['fold_sd_vs_error']['spearman_per_cell']:.3f}</p>")
                if v["fold_sd_vs_error"].get("bins"):
                    parts.append(calibration_plot(v["fold_sd_vs_error"]))
            if v.get("by_cell_type"):
                parts += [f"<h4>{html.escape(k)}: blend per annotated cell type</h4>",
                          _table([{"cell_type": t, "pearson": e["pearson"], "cells": e["n_cells"]}
                                  for t, e in sorted(v["by_cell_type"].items())], ["cell_type", "pearson", "cells"])]
        return parts
    return ["<h2>Score on the hidden demo targets</h2>",
            _table([{"task": k, **v} for k, v in score.items()], ["task", "public", "private"])]


def per_target_section(paths: Mapping[str, object], weights: Mapping[str, float]) -> str:
    """The per-target Pearson plot of the blend's OOF predictions, with a caption saying how they were decoded."""
    splits = load_split_codes(TargetFiles(*(str(paths[k]) for k in ("codes", "codec", "split_codes", "split_codecs"))))
    r = per_target_pearson({n: MatrixFile(p) for n, p in paths["oofs"].items()}, weights, splits.decode_held_out,
                           MatrixFile(paths["targets"]))
    how = "" if splits.exact else ("; each cell's row decoded from codes by the codec of the fold that held it out "
                                   "(fit without it), so each profile is centred")
    return ("<p>Pearson across cells of each target, for the blend weights applied to the models' own "
            f"(unstandardised) OOF predictions{how}.</p>" + per_target_plot(r))


def write_report(out_path: str, modalities: Mapping[str, Mapping[str, object]], score_path: str | None = None,
                 own_data: bool = False) -> None:
    """Write the page. ``modalities[m]`` holds paths: ``cells, adversarial, adversarial_metrics,
    cell_type_metrics, ensemble_metrics, codes, codec, split_codes, split_codecs, targets``, ``models``
    (name → metrics.json) and ``oofs`` (blended model name → oof.h5ad)."""
    parts = ["<h1>msci report</h1>"]
    if set(modalities) != {"cite", "multi"} and not own_data:
        parts.append(f"<p><b>One-modality run:</b> the submission holds the evaluation rows of "
                     f"{html.escape(', '.join(modalities))} cells only; the other rows are left out.</p>")
    if score_path and Path(score_path).exists():
        parts += score_section(json.loads(Path(score_path).read_text()))
    for m, paths in modalities.items():
        cells = pd.read_parquet(paths["cells"])
        adv = pd.read_parquet(paths["adversarial"])
        adv_m = json.loads(Path(paths["adversarial_metrics"]).read_text())
        ct_m = json.loads(Path(paths["cell_type_metrics"]).read_text())
        ens = json.loads(Path(paths["ensemble_metrics"]).read_text())
        models = {n: json.loads(Path(p).read_text()) for n, p in paths["models"].items()}
        rows = [{"model": n, "cv_pearson": mm["cv_pearson"],
                 "good_validation": mm.get("cv_pearson_good_validation"), "day_out": mm.get("cv_pearson_day_out"),
                 "if_stopped_on_scored_fold": mm.get("cv_pearson_if_stopped_on_scored_fold"),
                 "fit_seconds": mm.get("fit_seconds"), "weight": ens["weights"].get(n, 0.0)}
                for n, mm in models.items()]
        # The blend's scores are out of sample: weights fit on half of the fit cells, scored on the other.
        good = ens["fit_on"] == "good_validation"
        blend = {"cv_pearson": None if good else ens["cv_pearson_holdout"],
                 "cv_pearson_good_validation": ens["cv_pearson_holdout"] if good else None,
                 "cv_pearson_day_out": ens.get("cv_pearson_day_out")}
        rows.append({"model": "blend (held-out halves)", "cv_pearson": blend["cv_pearson"],
                     "good_validation": blend["cv_pearson_good_validation"], "day_out": blend["cv_pearson_day_out"]})
        sd = ens.get("cv_pearson_holdout_sd")
        parts += [f"<h2>{html.escape(m)}</h2>",
                  "<h3>Adversarial validation</h3>", adversarial_plot(adv, cells, adv_m),
                  "<p>cell-type classifier out-of-fold accuracy: "
                  + (f"{ct_m['oof_accuracy']:.3f}" if ct_m.get("oof_accuracy") is not None
                     else f"none ({html.escape(ct_m.get('skipped', ''))})") + "</p>",
                  "<h3>Models (cross-validation)</h3>", models_plot({**models, "blend": blend}),
                  _table(rows, ["model", "cv_pearson", "good_validation", "day_out", "if_stopped_on_scored_fold",
                                "weight", "fit_seconds"]),
                  "<p>Every model chose its epoch or round on an inner split of each fold's training cells; "
                  "<i>if_stopped_on_scored_fold</i> is what choosing it on the scored fold (the original's way) "
                  "would have reported. <i>day_out</i>: trained without the latest training day, scored on it.</p>",
                  f"<p><b>blend, out of sample: {_fmt(ens.get('cv_pearson_holdout'))}</b>"
                  + (f" (sd {sd:.4f} over {len(ens['cv_pearson_holdout_by_seed'])} search seeds)" if sd else "")
                  + f" on {html.escape(ens['fit_on'])} cells, weights ({html.escape(ens['method'])}) fit on the "
                  f"cells of half of the folds and scored on the other half; the best single model chosen the "
                  f"same way ({html.escape(', '.join(ens.get('best_single_model_holdout', [])))}): "
                  f"{_fmt(ens.get('best_single_cv_pearson_holdout'))}. Day out: {_fmt(ens.get('cv_pearson_day_out'))}."
                  f" In sample (weights fit on all {ens['n_fit_cells']} fit cells, scored on every OOF cell): "
                  f"{_fmt(ens.get('cv_pearson_in_sample'))}"
                  + (f"; with whole-matrix standardisation {_fmt(ens['cv_pearson_matrix_standardized_in_sample'])}"
                     if "cv_pearson_matrix_standardized_in_sample" in ens else "") + ".</p>",
                  "<h3>Blend weights</h3>", weights_plot(ens["weights"]),
                  "<h3>Per-target Pearson of the blend</h3>", per_target_section(paths, ens["weights"])]
        if paths.get("model_card"):
            parts += ["<h3>Model card</h3>", "<p>What <code>msci export</code> packs with the fitted files "
                      "(<code>model_card.md</code>; every field, names and config in full, in "
                      "<code>model_card.json</code>):</p>",
                      f"<pre>{html.escape(Path(paths['model_card']).read_text())}</pre>"]
        if paths.get("studies"):
            parts.append("<h3>Hyperparameter studies</h3>")
            for model, files in paths["studies"].items():
                parts += study_section(model, files)
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:right}img{max-width:100%;display:block;margin:.5em 0}")
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>msci report</title><style>{style}</style>" \
           f"</head><body>{''.join(parts)}</body></html>"
    with atomic_path(out_path) as tmp:
        tmp.write_text(page)
