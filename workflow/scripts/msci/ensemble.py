"""Blend models' predictions of one modality after standardisation, with Optuna-searched weights.

The metric is a Pearson correlation per cell, so by default each model's prediction rows are
centred and scaled to unit variance before weighting (``standardize="row"``): the blend weighs each
model's *shape* of a cell's profile, not its scale. ``"matrix"`` standardises each model's whole
matrix at once (what the original solution did), ``"none"`` blends raw predictions.

Weights are searched by Optuna (seeded TPE) to maximise the mean per-cell Pearson on all OOF cells where the
folds hold out whole batches, else on the good-validation OOF cells (``fit_on``). That score is in-sample.
``method="stack"`` goes one step further and stacks the members' OOF predictions target by target: each target
gets its own least-squares mix of the models, shrunk toward the searched weights. The headline score is
out-of-sample: weights fit on the cells of even folds and scored on odd folds and vice versa (even and odd
batches where the fit cells lie in one fold)
(``cv_pearson_holdout``, the mean over ``n_seeds`` repetitions of the seeded search, whose spread is
reported), set against the best single model chosen the same way. ``cv_pearson_day_out`` blends the models'
day-out predictions (trained without the latest training day) with weights fit on the other days.

With compressed targets an OOF row is in the code space of the fold that held its cell out
(:mod:`msci.split_codecs`): blending and scoring are row-wise, so OOF rows are scored against that
fold's codes of the cell (the held-out truth) and day-out rows against the day-out split's.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msci.cv import row_metrics
from msci.io.artifacts import write_json
from msci.io.matrix import MatrixFile, MatrixWriter
from msci.metrics import row_pearson, row_standardize
from msci.split_codecs import TargetFiles, load_split_codes
from msci.target_codes import TargetCodec, load_codec

log = logging.getLogger(__name__)
STANDARDIZE = ("row", "matrix", "none")


def matrix_stats(f: MatrixFile, chunk_rows: int = 4096) -> tuple[float, float]:
    """Mean and standard deviation of every value of a matrix on disk, in one chunked pass."""
    n = s1 = s2 = 0.0
    for _, _, b in f.iter_chunks(chunk_rows):
        b = np.asarray(b, dtype=np.float64)
        n, s1, s2 = n + b.size, s1 + b.sum(), s2 + np.square(b).sum()
    mean = s1 / max(n, 1)
    return float(mean), float(np.sqrt(max(s2 / max(n, 1) - mean * mean, 0.0)))


def matrix_standardize(pred: np.ndarray, stats: tuple[float, float] | None = None) -> np.ndarray:
    """Centred and scaled by one mean and one standard deviation (the original's way).

    ``stats``: the whole matrix's ``(mean, sd)`` when ``pred`` is a block of it.
    """
    pred = np.asarray(pred, dtype=np.float32)
    mean, sd = stats if stats is not None else (float(pred.mean()), float(pred.std()))
    return (pred - np.float32(mean)) / np.float32(sd) if sd > 0 else np.zeros_like(pred)


def standardize(pred: np.ndarray, how: str, stats: tuple[float, float] | None = None) -> np.ndarray:
    """Predictions standardised as the blend's ``standardize`` setting says (row, matrix or none)."""
    if how == "row":
        return row_standardize(pred)
    if how == "matrix":
        return matrix_standardize(pred, stats)
    if how == "none":
        return np.asarray(pred, dtype=np.float32)
    raise ValueError(f"standardize must be one of {', '.join(STANDARDIZE)}, not {how!r}")


def blend(preds: Sequence[np.ndarray], weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Weighted sum of (already standardised) predictions, weights normalised to sum 1.

    ``weights``: one per prediction, or one row per prediction with a weight per target (``method: stack``),
    each target's column normalised to sum 1.
    """
    w = np.asarray(weights, dtype=np.float64)
    if len(w) != len(preds) or (w < 0).any() or (w.sum(axis=0) <= 0).any():
        raise ValueError("need one non-negative weight per prediction (or per prediction and target), not all zero")
    if w.ndim == 2 and w.shape[1] != np.shape(preds[0])[1]:
        raise ValueError(f"per-target weights for {w.shape[1]} targets, predictions of {np.shape(preds[0])[1]}")
    w = (w / w.sum(axis=0)).astype(np.float32)
    out = np.zeros(np.shape(preds[0]), dtype=np.float32)
    for p, wi in zip(preds, w, strict=True):
        if np.any(wi > 0):
            out += wi * p
    return out


def optimize_weights(preds: Sequence[np.ndarray], y: np.ndarray, *, n_trials: int, seed: int,
                     rho: np.ndarray | None = None) -> np.ndarray:
    """Non-negative weights (summing to 1) maximising mean per-cell Pearson of the blend, by seeded TPE.

    ``rho`` weighs each cell's Pearson (target codes: it makes the score the genes' exact Pearson).
    """
    if len(preds) == 1:
        return np.ones(1)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.enable_propagation()  # into the rule's log (msci.logs), not Optuna's own stderr handler
    optuna.logging.disable_default_handler()

    def objective(trial: optuna.Trial) -> float:
        w = np.array([trial.suggest_float(f"w{i}", 0.0, 1.0) for i in range(len(preds))])
        if w.sum() <= 0:
            return -1.0
        r = row_pearson(y, blend(preds, w))
        return float((r * rho).mean() if rho is not None else r.mean())

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({f"w{i}": 1.0 for i in range(len(preds))})  # equal weights are always tried
    study.optimize(objective, n_trials=n_trials)
    w = np.array([study.best_params[f"w{i}"] for i in range(len(preds))])
    return w / w.sum()


def stack_weights(preds: Sequence[np.ndarray], y: np.ndarray, prior: np.ndarray, shrinkage: float,
                  rho: np.ndarray | None = None) -> np.ndarray:
    """Per-target weights (models × targets): each target's least-squares mix of the models on these cells, shrunk
    toward ``prior`` (the blend's weights, at the target's scale) by ``shrinkage`` × the target's mean prediction
    energy, then clipped to non-negative and normalised per target (a target left with no weight keeps ``prior``).

    Stacking the members' OOF predictions target by target: a model good at some targets weighs more there. Cells
    count as in the metric: each row standardised, weighted by ``rho``.
    """
    if len(preds) == 1:
        return np.ones((1, np.shape(preds[0])[1]))
    sw = np.sqrt(rho if rho is not None else np.ones(len(y)))[:, None].astype(np.float32)
    ys = row_standardize(y) * sw
    k = len(preds)
    gram = np.empty((np.shape(y)[1], k, k))  # targets × models × models, one pair of models at a time
    for i in range(k):
        for j in range(i + 1):
            gram[:, i, j] = gram[:, j, i] = np.einsum("nt,nt->t", preds[i] * sw, preds[j] * sw)
    rhs = np.stack([np.einsum("nt,nt->t", p * sw, ys) for p in preds], axis=1).astype(np.float64)
    lam = shrinkage * np.trace(gram, axis1=1, axis2=2) / k + 1e-12
    prior = np.asarray(prior, dtype=np.float64) / np.sum(prior)
    # the prior mix at each target's least-squares scale, so that shrinking moves the mix, not the scale
    scale = (rhs @ prior) / np.maximum(np.einsum("tij,i,j->t", gram, prior, prior), 1e-12)
    toward = np.maximum(scale, 0.0)[:, None] * prior
    w = np.linalg.solve(gram + lam[:, None, None] * np.eye(k), (rhs + lam[:, None] * toward)[..., None])[..., 0]
    w = np.clip(w, 0.0, None)
    empty = w.sum(axis=1) <= 0
    w[empty] = prior
    return (w / w.sum(axis=1, keepdims=True)).T


def fixed_weights(names: Sequence[str], weights: Mapping[str, float] | None) -> np.ndarray:
    """The configured weights of ``names``; refuses unknown names, negative, non-finite or all-zero weights."""
    weights = dict(weights or {})
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise ValueError(f"ensemble weights name unknown model(s) {', '.join(unknown)}; blended: {', '.join(names)}")
    w = np.array([float(weights.get(n, 0.0)) for n in names])
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"ensemble method fixed needs finite, non-negative weights, not all zero: {weights}")
    return w / w.sum()


class _Standardized:
    """One model's predictions on disk, standardised block by block as the blend needs them."""

    def __init__(self, f: MatrixFile, how: str, chunk_rows: int) -> None:
        self.file, self.how = f, how
        self.stats = matrix_stats(f, chunk_rows) if how == "matrix" else None

    def block(self, start: int, stop: int) -> np.ndarray:
        return standardize(self.file.read(start, stop), self.how, self.stats)

    def rows(self, rows: np.ndarray, chunk_rows: int) -> np.ndarray:
        return standardize(self.file.read_rows(rows, chunk_rows), self.how, self.stats)


@dataclass(frozen=True)
class BlendSettings:
    """The configured blend (the schema's ``ensemble`` section, less models and external) and the run's seed."""

    method: str
    weights: Mapping[str, float]
    standardize: str
    fit_on: str
    n_trials: int
    n_seeds: int
    stack_shrinkage: float
    seed: int


@dataclass(frozen=True)
class BlendFiles:
    """What the blend reads: each model's OOF, test and day-out predictions, and the modality's training tables."""

    oof: Mapping[str, str]
    test: Mapping[str, str]
    day_out: Mapping[str, str]
    targets: TargetFiles
    cells: str
    folds: str


@dataclass(frozen=True)
class BlendOutputs:
    """What the blend writes: blended OOF and test predictions, the weights and the metrics."""

    oof: str
    test: str
    weights: str
    metrics: str


@dataclass
class Models:
    """The blended models' prediction files beside the training targets, checked to name the same cells and targets.

    ``targets``/``rho``: the OOF truth (each cell under the codec of the fold holding it out) and its ρ;
    ``day_out_targets``/``day_out_rho``: every cell under the day-out split's codec (read the day-out rows).
    """

    names: list[str]
    targets: MatrixFile
    oof: list[MatrixFile]
    test: list[MatrixFile]
    codec: TargetCodec
    rho: np.ndarray
    day_out_targets: MatrixFile
    day_out_rho: np.ndarray


@dataclass
class FitCells:
    """The weight-fitting cells' targets, standardised OOF predictions, ρ and half keys (:func:`half_keys`: folds, or
    batches where the cells lie in one fold), held for the weight search."""

    rows: np.ndarray
    y: np.ndarray
    preds: list[np.ndarray]
    rho: np.ndarray
    fold: np.ndarray

    def score(self, mask: np.ndarray, w: np.ndarray) -> float:
        """Exact mean per-cell Pearson of the blend with weights ``w`` on the fit cells in ``mask``."""
        return float((row_pearson(self.y[mask], blend([p[mask] for p in self.preds], w)) * self.rho[mask]).mean())


@dataclass
class PerCell:
    """Per-cell Pearson over all OOF cells: of the blend, of each model, and of the whole-matrix-standardised blend."""

    blend: np.ndarray
    single: np.ndarray
    matrix: np.ndarray | None


WeightSearch = Callable[[FitCells, np.ndarray, int], np.ndarray]


def open_models(files: BlendFiles) -> Models:
    """Open every prediction file and refuse any whose cells or targets differ from the training targets'."""
    names = list(files.oof)
    splits = load_split_codes(files.targets)
    targets, rho = splits.truth()
    oof = [MatrixFile(files.oof[n]) for n in names]
    test = [MatrixFile(files.test[n]) for n in names]
    codec = load_codec(files.targets.codec)[0]
    for f in oof + test:
        if list(f.var_names) != list(targets.var_names):
            raise ValueError(f"{f.path}: targets differ from {targets.path}")
    for f in oof:
        if list(f.obs_names) != list(targets.obs_names):
            raise ValueError(f"{f.path}: cells differ from {targets.path}")
    for f in test[1:]:
        if list(f.obs_names) != list(test[0].obs_names):
            raise ValueError(f"{f.path}: test cells differ from {test[0].path}")
    return Models(names, targets, oof, test, codec, rho, *splits.day_out_truth())


def weight_search(settings: BlendSettings, names: Sequence[str]) -> WeightSearch:
    """The method's weights for the fit cells in a mask: seeded Optuna search, the configured weights or equal ones.

    Configured weights are checked here, before any prediction is read.
    """
    def optuna(fit: FitCells, mask: np.ndarray, seed: int) -> np.ndarray:
        return optimize_weights([p[mask] for p in fit.preds], fit.y[mask], n_trials=settings.n_trials, seed=seed,
                                rho=fit.rho[mask])

    if settings.method == "optuna":
        return optuna
    if settings.method == "stack":
        return lambda fit, mask, seed: stack_weights([p[mask] for p in fit.preds], fit.y[mask],
                                                     optuna(fit, mask, seed), settings.stack_shrinkage,
                                                     rho=fit.rho[mask])
    if settings.method == "fixed":
        fixed = fixed_weights(names, settings.weights)
        return lambda fit, mask, seed: fixed
    if settings.method == "mean":
        return lambda fit, mask, seed: np.full(len(names), 1.0 / len(names))
    raise ValueError(f"method must be optuna, stack, fixed or mean, not {settings.method!r}")


def fit_cells(models: Models, oofs: list[_Standardized], folds: pd.DataFrame, fit_mask: np.ndarray,
              chunk_rows: int) -> FitCells:
    """Read the fit cells' targets and standardised OOF predictions (the only rows held in memory)."""
    rows = np.flatnonzero(fit_mask)
    y = np.asarray(models.targets.read_rows(rows, chunk_rows), dtype=np.float32)
    preds = [o.rows(rows, chunk_rows) for o in oofs]
    return FitCells(rows, y, preds, models.rho[rows], half_keys(folds, rows))


def half_keys(folds: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """What splits the fit cells into the held-out halves (by parity): their folds, or, where they all lie in one
    fold (the day-out day under day-grouped folds), their batches (``stop_group``) numbered in order."""
    fold = folds["fold"].to_numpy()[rows]
    if len(np.unique(fold)) < 2 and "stop_group" in folds:
        return pd.factorize(folds["stop_group"].to_numpy()[rows], sort=True)[0]
    return fold


def holdout_scores(fit: FitCells, search: WeightSearch, settings: BlendSettings, names: Sequence[str]) -> dict:
    """Out-of-sample scores: weights (and the best single model) chosen on the fit cells of even folds, scored on
    odd folds and vice versa; the weight search is repeated over ``n_seeds`` seeds."""
    even = fit.fold % 2 == 0
    halves = [(a, b) for a, b in ((even, ~even), (~even, even)) if a.any() and b.any()]
    n_searches = max(1, settings.n_seeds) if settings.method in ("optuna", "stack") else 1
    by_seed = [float(np.mean([fit.score(b, search(fit, a, settings.seed + i)) for a, b in halves])) if halves else None
               for i in range(n_searches)]
    r_fit = [row_pearson(fit.y, p) * fit.rho for p in fit.preds]
    best_by_half = [int(np.argmax([r[a].mean() for r in r_fit])) for a, _ in halves]
    best_single = (float(np.mean([r_fit[i][b].mean() for i, (_, b) in zip(best_by_half, halves, strict=True)]))
                   if halves else None)
    headline = float(np.mean(by_seed)) if halves else None
    return {
        "cv_pearson_holdout": headline,
        "cv_pearson_holdout_by_seed": by_seed,
        # The spread of the weight search alone (the halves stay the same).
        "cv_pearson_holdout_sd": float(np.std(by_seed, ddof=1)) if halves and len(by_seed) > 1 else None,
        "best_single_model_holdout": [names[i] for i in best_by_half],
        "best_single_cv_pearson_holdout": best_single,
        "blend_gain_holdout": headline - best_single if halves else None,
    }


def day_out_rows(folds: pd.DataFrame) -> np.ndarray:
    """Positions of the day-out cells (the latest training day) among the training cells."""
    return np.flatnonzero(folds["day_out"].to_numpy(bool)) if "day_out" in folds else np.zeros(0, int)


def open_day_out(paths: Mapping[str, str], models: Models, rows: np.ndarray) -> list[MatrixFile]:
    """Each model's day-out predictions, refused where their cells or targets are not the day-out cells'."""
    targets = models.targets
    files = [MatrixFile(paths[n]) for n in models.names]
    for f in files:
        if list(f.obs_names) != list(targets.obs_names[rows]) or list(f.var_names) != list(targets.var_names):
            raise ValueError(f"{f.path}: cells or targets differ from the day-out cells of {targets.path}")
    return files


def day_out_fit_cells(paths: Mapping[str, str], models: Models, folds: pd.DataFrame, how: str,
                      chunk_rows: int) -> FitCells | None:
    """The day-out cells as the weights' fit cells: each model's predictions by its model trained without that
    day, against the day-out codes (``fit_on: day_out``); ``None`` where no cell is day out."""
    rows = day_out_rows(folds)
    if not paths or not len(rows):
        return None
    preds = [_Standardized(f, how, chunk_rows).block(0, len(rows)) for f in open_day_out(paths, models, rows)]
    y = np.asarray(models.day_out_targets.read_rows(rows, chunk_rows), dtype=np.float32)
    return FitCells(rows, y, preds, models.day_out_rho[rows], half_keys(folds, rows))


def day_out_scores(paths: Mapping[str, str], models: Models, folds: pd.DataFrame, fit: FitCells,
                   search: WeightSearch, settings: BlendSettings, chunk_rows: int, fit_on: str) -> dict:
    """Day-out Pearson of each model and of their blend, weights fit on the fit cells of the other days.

    With no fit cell outside the day-out day, the blend weighs the models equally (and says so); with weights fit on
    the day-out cells themselves (``fit_on: day_out``) the blend has no day-out score of its own (its held-out-half
    score is one).
    """
    out = {"blend": None, "weights": None, "models": {}}
    rows = day_out_rows(folds)
    if not paths or not len(rows):
        return out
    names = models.names
    files = open_day_out(paths, models, rows)
    other = ~folds["day_out"].to_numpy(bool)[fit.rows]
    if fit_on == "day_out":
        w, out["weights"] = None, "none: the blend's weights are fit on the day-out cells (see cv_pearson_holdout)"
    elif other.any():
        w, out["weights"] = search(fit, other, settings.seed), "fit on the fit cells of the other days"
    else:
        w, out["weights"] = np.full(len(names), 1.0 / len(names)), "equal: no fit cell outside the day-out day"
    preds = [_Standardized(f, settings.standardize, chunk_rows) for f in files]
    r_blend, r_single = np.zeros(len(rows)), np.zeros((len(names), len(rows)))
    for start in range(0, len(rows), chunk_rows):
        stop = min(start + chunk_rows, len(rows))
        y = np.asarray(models.day_out_targets.read_rows(rows[start:stop], chunk_rows), dtype=np.float32)
        blocks = [p.block(start, stop) for p in preds]
        if w is not None:
            r_blend[start:stop] = row_pearson(y, blend(blocks, w))
        for i, b in enumerate(blocks):
            r_single[i, start:stop] = row_pearson(y, b)
    rho = models.day_out_rho[rows]
    out["blend"] = float((r_blend * rho).mean()) if w is not None else None
    out["models"] = {nm: float((r_single[i] * rho).mean()) for i, nm in enumerate(names)}
    return out


def write_oof_blend(models: Models, oofs: list[_Standardized], w: np.ndarray, out_path: str,
                    chunk_rows: int) -> PerCell:
    """Write the blended OOF predictions block by block; per-cell Pearson of the blend, of each model and of the
    blend as the original's whole-matrix standardisation would have made it (exact targets, row standardisation)."""
    targets, n, how = models.targets, models.targets.n_rows, oofs[0].how
    r_blend, r_single = np.zeros(n), np.zeros((len(models.names), n))
    r_matrix = np.zeros(n) if how == "row" and len(models.names) > 1 and models.codec.decoder is None else None
    mstats = [matrix_stats(f, chunk_rows) for f in models.oof] if r_matrix is not None else None
    with MatrixWriter(out_path, targets.var_names) as wo:
        for start, stop, y in targets.iter_chunks(chunk_rows):
            y = np.asarray(y, dtype=np.float32)
            blocks = [o.block(start, stop) for o in oofs]
            b = blend(blocks, w)
            wo.append(b, targets.obs_names[start:stop])
            r_blend[start:stop] = row_pearson(y, b)
            for i, p in enumerate(blocks):
                r_single[i, start:stop] = row_pearson(y, p)
            if r_matrix is not None:
                raw = [f.read(start, stop) for f in models.oof]
                r_matrix[start:stop] = row_pearson(y, blend([matrix_standardize(p, s) for p, s in
                                                             zip(raw, mstats, strict=True)], w))
    return PerCell(r_blend, r_single, r_matrix)


def fold_layers(files: Sequence[MatrixFile]) -> list[str]:
    """The fold layers (``fold_<k>``: one fold model's test predictions) that every file has."""
    common = set.intersection(*(set(f.layer_names) for f in files)) if files else set()
    return sorted((n for n in common if re.fullmatch(r"fold_\d+", n)), key=lambda n: int(n.split("_")[1]))


def write_test_blend(models: Models, w: np.ndarray, how: str, out_path: str, chunk_rows: int) -> None:
    """Write the blended test predictions block by block; and, as layer ``fold_<k>``, the blend of the models'
    fold-k predictions with the same weights (the folds' spread, :mod:`msci.predictions`)."""
    tests = [_Standardized(f, how, chunk_rows) for f in models.test]
    folds = {name: [_Standardized(MatrixFile(f.path, layer=name), how, chunk_rows) for f in models.test]
             for name in fold_layers(models.test)}
    test_ids = models.test[0].obs_names
    with MatrixWriter(out_path, models.targets.var_names) as wt:
        for start in range(0, len(test_ids), chunk_rows):
            stop = min(start + chunk_rows, len(test_ids))
            wt.append(blend([t.block(start, stop) for t in tests], w), test_ids[start:stop])
            for name, members in folds.items():
                wt.append_layer(name, blend([t.block(start, stop) for t in members], w))


def training_cells(files: BlendFiles, models: Models) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training cells' folds and cell table (with the folds' good-validation flag), in the targets' order."""
    train_ids = models.targets.obs_names
    folds = pd.read_parquet(files.folds).loc[train_ids]
    cells = pd.read_parquet(files.cells).loc[train_ids]
    cells["good_validation"] = folds["good_validation"].to_numpy() if "good_validation" in folds else False
    return folds, cells


def fit_cell_mask(cells: pd.DataFrame, fit_on: str) -> tuple[np.ndarray, str]:
    """The cells whose score the weights maximise, and what they are (all cells when none is good validation)."""
    n = len(cells)
    mask = cells["good_validation"].to_numpy(bool) if fit_on == "good_validation" else np.ones(n, bool)
    if not mask.any():
        log.warning("no good-validation cells: weights are fit on all OOF cells")
        return np.ones(n, bool), "all"
    return mask, fit_on


def resolve_fit_on(fit_on: str, folds: pd.DataFrame) -> str:
    """What ``auto`` stands for: all OOF cells where the folds hold out whole batches (each OOF cell was then
    predicted by models that never saw its batch), else the good-validation cells; other values as given."""
    if fit_on != "auto":
        return fit_on
    return "all" if "stop_group" in folds else "good_validation"


def weight_fit_cells(files: BlendFiles, models: Models, folds: pd.DataFrame, cells: pd.DataFrame,
                     oofs: list[_Standardized], settings: BlendSettings, chunk_rows: int) -> tuple[FitCells, str]:
    """The cells whose score the weights maximise, and what they are: OOF cells (good validation or all), or the
    day-out cells as predicted by the models trained without their day (good validation where there is none)."""
    fit_on = resolve_fit_on(settings.fit_on, folds)
    if fit_on == "day_out":
        fit = day_out_fit_cells(files.day_out, models, folds, settings.standardize, chunk_rows)
        if fit is not None:
            return fit, "day_out"
        log.warning("no day-out cells (a single training day): weights are fit on the good-validation OOF cells")
    fit_mask, fit_on = fit_cell_mask(cells, "all" if fit_on == "all" else "good_validation")
    return fit_cells(models, oofs, folds, fit_mask, chunk_rows), fit_on


def ensemble_models(files: BlendFiles, out: BlendOutputs, settings: BlendSettings, chunk_rows: int = 4096) -> dict:
    """Blend the named models of one modality and write the blend, its weights and its metrics.

    Every file is read in row blocks of at most ``chunk_rows``: only the weight-fitting cells' rows are held
    (for the search), and the blended OOF and test predictions are written block by block.
    """
    models = open_models(files)
    search = weight_search(settings, models.names)
    # Blocks of about 16 M values: 4,096 rows of codes, ~700 rows of 23,418 exact genes.
    chunk_rows = max(16, min(chunk_rows, (1 << 24) // max(1, models.targets.shape[1])))
    folds, cells = training_cells(files, models)
    oofs = [_Standardized(f, settings.standardize, chunk_rows) for f in models.oof]
    fit, fit_on = weight_fit_cells(files, models, folds, cells, oofs, settings, chunk_rows)
    log.info("weight search on %d of %d training cells (%s), %d models", len(fit.rows), len(cells), fit_on,
             len(models.names))
    w = search(fit, np.ones(len(fit.rows), bool), settings.seed)
    holdout = holdout_scores(fit, search, settings, models.names)
    day_out = day_out_scores(files.day_out, models, folds, fit, search, settings, chunk_rows, fit_on)
    per_cell = write_oof_blend(models, oofs, w, out.oof, chunk_rows)
    write_test_blend(models, w, settings.standardize, out.test, chunk_rows)
    metrics = {**holdout, "cv_pearson_day_out": day_out["blend"], "day_out_weights": day_out["weights"],
               **in_sample_metrics(models, cells, per_cell, day_out["models"], fit, w, settings, fit_on)}
    write_json({nm: (x.tolist() if np.ndim(x) else float(x)) for nm, x in zip(models.names, w, strict=True)},
               out.weights)
    write_json(metrics, out.metrics)
    _log_summary(metrics, len(holdout["cv_pearson_holdout_by_seed"]))
    return metrics


def in_sample_metrics(models: Models, cells: pd.DataFrame, per_cell: PerCell, day_out: Mapping[str, float],
                      fit: FitCells, w: np.ndarray, settings: BlendSettings, fit_on: str) -> dict:
    """The in-sample metrics (weights fit on the cells scored), the settings, the weights and each model's scores."""
    names, rho = models.names, models.rho
    in_sample = row_metrics(per_cell.blend * rho, cells)
    singles = {nm: row_metrics(per_cell.single[i] * rho, cells) for i, nm in enumerate(names)}
    for nm in names:
        singles[nm]["cv_pearson_day_out"] = day_out.get(nm)
    weight_map = {nm: float(np.mean(x)) for nm, x in zip(names, w, strict=True)}  # per-target weights: their mean
    metrics = {
        "n_cells": in_sample.pop("n_cells"),
        **{f"{k}_in_sample": v for k, v in in_sample.items()},
        "cv_pearson_fit_cells_in_sample": fit.score(np.ones(len(fit.rows), bool), w),
        "method": settings.method, "standardize": settings.standardize, "fit_on": fit_on,
        "n_fit_cells": len(fit.rows),
        "weights": weight_map, "zero_weight_models": [nm for nm, x in weight_map.items() if x == 0.0],
        "models": {nm: {k: m[k] for k in ("cv_pearson", "cv_pearson_good_validation", "cv_pearson_day_out") if k in m}
                   for nm, m in singles.items()},
    }
    if per_cell.matrix is not None:  # what the original's whole-matrix standardisation would have scored
        metrics["cv_pearson_matrix_standardized_in_sample"] = float((per_cell.matrix * rho).mean())
    return metrics


def _log_summary(metrics: dict, n_seeds: int) -> None:
    """One log line: the weights, the held-out-half, best-single, day-out and in-sample scores."""
    log.info("blend of %s with weights %s: held-out-half CV Pearson %s (sd over %d seeds %s), best single "
             "model chosen the same way %s; day out %s; in-sample %.4f", ", ".join(metrics["weights"]),
             {nm: round(x, 3) for nm, x in metrics["weights"].items()}, _fmt(metrics["cv_pearson_holdout"]), n_seeds,
             _fmt(metrics["cv_pearson_holdout_sd"]), _fmt(metrics["best_single_cv_pearson_holdout"]),
             _fmt(metrics["cv_pearson_day_out"]), metrics["cv_pearson_in_sample"])


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"
