"""Train one configured model on one modality: features + folds → OOF, test predictions, metrics."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from msci.cv import CVResult, HeldOut, cross_validate, fit_held_out, row_metrics, stopping_overstatement
from msci.features.table import load_features
from msci.io.artifacts import write_json
from msci.io.fitted import atomic_dir, write_manifest
from msci.io.matrix import MatrixFile, MatrixWriter, write_matrix
from msci.models.registry import make_model
from msci.split_codecs import DAY_OUT, SplitCodes, TargetFiles, fold_table, load_split_codes, table_splits
from msci.validation.folds import batch_labels

log = logging.getLogger(__name__)
# What the prediction files' columns are, said in their uns: compressed targets' OOF rows are in the code space of
# the fold that held the cell out (targets/split_codecs.npz), test rows in the global one (targets/codec.npz).
CODE_SPACES = {"oof": "codes of the fold holding the cell out", "test": "global codes", "day_out": "day-out codes"}
EXACT_SPACES = dict.fromkeys(CODE_SPACES, "targets")
# What a test.h5ad's layers hold: the spread of its fold models is read from them (msci.predictions).
FOLD_LAYERS = "fold_<k>: fold k's model's test predictions (X is their mean)"


def train_model(model_type: str, params: dict[str, Any], feature_paths: Sequence[str], targets: TargetFiles,
                cells_path: str, folds_path: str, out_oof: str, out_test: str, out_metrics: str,
                out_day_out: str | None = None, seed: int = 0, threads: int | None = None,
                pretrainer: str | None = None, stop_fraction: float = 0.1,
                out_fitted: str | None = None) -> dict[str, Any]:
    """Cross-validate ``model_type`` and write OOF and test predictions (h5ad) and ``metrics.json``.

    ``targets``: the training targets as codes (:mod:`msci.target_codes`), per CV split
    (:mod:`msci.split_codecs`): each fold trains on the codes of a codec fit without its held-out cells, so
    OOF rows are in the code space of the fold that held them out, and test predictions in the global one.
    Scores are exact per-cell Pearson on the targets. ``pretrainer``: a saved unsupervised TabNet
    encoder every fold starts from. Early-stopping models stop on ``stop_fraction`` of each fold's
    training cells. ``out_day_out``: predictions for the folds' ``day_out`` cells by one more model
    trained on the earlier days, in the day-out split's code space (no rows where there is a single training day).
    ``out_fitted``: a folder that gets every fold's fitted model in its library's format (``fold_<k>.*``) and
    ``fitted.json`` (type, params, feature columns, the folds' code spaces), what a query predicts with.
    """
    if pretrainer:
        params = {**params, "pretrainer_path": pretrainer}
    data = load_training(feature_paths, targets, cells_path, folds_path)
    splits, train_ids, folds, fold, good = data.splits, data.train_ids, data.folds, data.fold, data.good
    day_out, test_ids, X, code_names = folds["day_out"].to_numpy(bool), data.test_ids, data.X, data.code_names
    X_test = load_features(feature_paths, test_ids)
    n_folds = len(np.unique(fold))
    log.info("%s: %d train × %d features → %d target codes; %d test cells; %d folds", model_type, *X.shape,
             len(code_names), len(test_ids), n_folds)

    def make(k: int):
        return make_model(model_type, params, seed=seed + k, threads=threads)

    X_train = X.to_numpy()
    spaces = EXACT_SPACES if splits.exact else CODE_SPACES
    with (MatrixWriter(out_test, code_names, uns={"code_space": spaces["test"], "layers": FOLD_LAYERS}) as test_out,
          fitted_folder(out_fitted) as fitted):
        result = cross_validate(make, X_train, splits, fold, X_test.to_numpy(), stop_labels=good,
                                stop_groups=data.stop_groups,
                                stop_fraction=stop_fraction, seed=seed, groups=data.batches,
                                on_test=lambda k, pred: test_out.append_layer(fold_layer(k), pred),
                                on_fold=(lambda k, m: m.save(str(fitted / fold_layer(k)))) if fitted else None)
        test_out.append(result.test, test_ids)
        if fitted:
            write_manifest(fitted, {"type": model_type, "params": {k: v for k, v in params.items()
                                                                   if k != "pretrainer_path"},
                                    "features": list(X.columns), "folds": [int(k) for k in np.unique(fold)],
                                    "code_names": list(code_names), "code_space": spaces["test"]})
    train_cells = data.train_cells
    metrics = row_metrics(result.pearson, train_cells)
    over = stopping_overstatement(result)
    if over:
        metrics.update(over, stop_fraction=stop_fraction)
        stop_cells = "whole batches, at least " if data.stop_groups is not None else ""
        log.info("%s: epoch chosen on %s%.0f %% of each fold's training cells; choosing it on the scored fold "
                 "would have reported %.4f (+%.4f)", model_type, stop_cells, 100 * stop_fraction,
                 over["cv_pearson_if_stopped_on_scored_fold"], over["early_stopping_overstatement"])
        metrics["stop_on"] = "batches" if data.stop_groups is not None else "cells"
    held = fit_day_out(make(n_folds), X_train, splits, folds, train_cells, stop_fraction, seed + n_folds,
                       data.batches)
    metrics["cv_pearson_day_out"] = held.score if held is not None else None
    if held is not None:
        metrics["day_out"] = {"day": str(train_cells["day"].to_numpy()[day_out][0]), **held.info}
        log.info("%s: day-out Pearson %.4f", model_type, held.score)
    metrics.update({
        "model_type": model_type,
        "params": {k: v for k, v in params.items() if k != "pretrainer_path"},
        "fit_seconds": result.fit_seconds,
        "fold_pearson": result.fold_scores,
        "folds": result.fold_info,
        "n_features": int(X.shape[1]),
    })
    if all("epochs" in f for f in result.fold_info):  # iterative models: rounds/epochs kept per fold
        metrics["epochs"] = [f["epochs"] for f in result.fold_info]
    metrics["device"] = result.fold_info[0].get("device", "cpu")
    write_predictions(PredictionFiles(out_oof, out_day_out), result, held, splits, train_ids[day_out], code_names)
    write_json(metrics, out_metrics)
    log.info("%s: CV Pearson %.4f", model_type, metrics["cv_pearson"])
    return metrics


@dataclass(frozen=True)
class TrainingData:
    """What a model's cross-validation reads: the cells, targets per split, folds and the training features."""

    cells: pd.DataFrame
    splits: SplitCodes
    folds: pd.DataFrame
    X: pd.DataFrame
    code_names: pd.Index

    @property
    def train_ids(self) -> np.ndarray:
        return self.splits.cells

    @property
    def fold(self) -> np.ndarray:
        return self.folds["fold"].to_numpy()

    @property
    def good(self) -> np.ndarray | None:
        """The good-validation cells (the inner early-stopping split's strata), where the folds have them."""
        return stop_labels(self.folds)

    @property
    def test_ids(self) -> np.ndarray:
        return self.cells.index[self.cells["split"] == "test"].to_numpy()

    @property
    def batches(self) -> np.ndarray | None:
        """Each training cell's batch, its donor × day where the cells have them (the groups of models that fit
        per batch); ``None`` where they have neither."""
        train = self.cells.loc[self.train_ids]
        return batch_labels(train) if {"donor", "day"} & set(train.columns) else None

    @property
    def stop_groups(self) -> np.ndarray | None:
        """Each training cell's batch where the folds are grouped (early stopping then holds out whole batches)."""
        return self.folds["stop_group"].to_numpy() if "stop_group" in self.folds else None

    @property
    def train_cells(self) -> pd.DataFrame:
        """The training cells' annotations, with their good-validation label where there is one."""
        out = self.cells.loc[self.train_ids].copy()
        if self.good is not None:
            out["good_validation"] = self.good
        return out


def load_training(feature_paths: Sequence[str], targets: TargetFiles, cells_path: str,
                  folds_path: str) -> TrainingData:
    """The training side of a model's run (one reading, shared by ``train_model`` and tuning trials)."""
    splits = load_split_codes(targets)
    folds = fold_table(folds_path, splits.cells)
    splits.check_splits(table_splits(folds), folds_path)
    return TrainingData(pd.read_parquet(cells_path), splits, folds, load_features(feature_paths, splits.cells),
                        MatrixFile(targets.codes).var_names)


@contextmanager
def fitted_folder(path: str | None) -> Iterator[Path | None]:
    """A temporary folder that becomes ``path`` when the block succeeds (``None`` when not asked for)."""
    if path is None:
        yield None
        return
    with atomic_dir(path) as tmp:
        yield tmp


def stop_labels(folds: pd.DataFrame) -> np.ndarray | None:
    """The labels each inner early-stopping split is stratified on: good validation, where the folds have it."""
    return folds["good_validation"].to_numpy(bool) if "good_validation" in folds else None


def fit_day_out(model, X: np.ndarray, splits: SplitCodes, folds: pd.DataFrame, train_cells: pd.DataFrame,
                stop_fraction: float, seed: int, groups: np.ndarray | None = None) -> HeldOut | None:
    """The day-out model: trained on the earlier days' codes under the day-out codec (fit without the latest day),
    scored on the latest day's; ``None`` where no cell is day out (a single training day)."""
    day_out = folds["day_out"].to_numpy(bool)
    if not day_out.any():
        return None
    log.info("day out: trained on %d cells of the earlier days, scored on %d cells of day %s",
             (~day_out).sum(), day_out.sum(), train_cells["day"].to_numpy()[day_out][0])
    Y, rho = splits.codes(DAY_OUT)
    stop_groups = folds["stop_group"].to_numpy() if "stop_group" in folds else None
    return fit_held_out(model, X, Y, np.flatnonzero(~day_out), np.flatnonzero(day_out), rho, stop_labels(folds),
                        stop_fraction, seed, groups=groups, stop_groups=stop_groups)


@dataclass(frozen=True)
class PredictionFiles:
    """Where a model's OOF and (optional) day-out predictions go (``.h5ad``; the test ones are written as the folds
    make them)."""

    oof: str
    day_out: str | None


def fold_layer(k: int) -> str:
    """The layer of ``test.h5ad`` holding fold ``k``'s model's test predictions."""
    return f"fold_{k}"


def write_predictions(out: PredictionFiles, result: CVResult, held: HeldOut | None, splits: SplitCodes,
                      day_out_ids: np.ndarray, code_names: Sequence[str]) -> None:
    """Write the OOF and day-out predictions, each saying (``uns["code_space"]``) which codes it holds."""
    spaces = EXACT_SPACES if splits.exact else CODE_SPACES
    write_matrix(out.oof, result.oof, splits.cells, code_names, uns={"code_space": spaces["oof"]})
    if out.day_out:
        pred = held.pred if held is not None else np.zeros((0, len(code_names)), np.float32)
        write_matrix(out.day_out, pred, day_out_ids, code_names, uns={"code_space": spaces["day_out"]})
