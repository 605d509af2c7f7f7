"""Hyperparameter studies: Optuna trials of one model's cross-validation, added by parallel workers to one study.

A study lives in persistent storage: Optuna's journal file inside the run folder (a cluster's shared filesystem
serves it to every node) or an RDB URL. :func:`create_study` makes it afresh (rule ``tune_study``: it reruns
when the model, its search space, the code or the data change); each worker (rule ``tune_worker``, one job
each) loads the training data once and adds trials until ``n_trials`` are finished in total across workers
(:func:`run_worker`); :func:`summarize` writes the best params, every trial and the params' importances.

A trial is scored exactly as ``train_model`` scores the model (:func:`msci.training.load_training`, the same
folds, inner-split early stopping, per-cell Pearson): the value is the mean over the good-validation cells
(all training cells where the folds have none). After each fold the running value goes to a median pruner.

Resume: each trial records its worker's index; a worker starting again marks the trials its killed
predecessor left running (and those of worker indices no longer configured) as failed, and the study goes on
to ``n_trials`` finished ones.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from msci.cv import cross_validate
from msci.io.artifacts import atomic_path, write_json
from msci.models.registry import make_model
from msci.split_codecs import TargetFiles
from msci.training import TrainingData, load_training

log = logging.getLogger(__name__)
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
MAX_FAILS_IN_A_ROW = 3  # a worker whose trials keep failing stops, naming the error
ORPHAN_SECONDS = 60  # a running trial without a worker index this old was left by a worker killed as it began


def storage(setting: str, journal: str | Path) -> optuna.storages.BaseStorage:
    """Optuna storage: the journal file ``journal`` (``setting: journal``) or the RDB URL ``setting``."""
    if setting == "journal":
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(str(journal)))
    return optuna.storages.RDBStorage(setting)


def study_name(setting: str, modality: str, model: str) -> str:
    """A study's name: the modality and model in a run's own journal file; in an RDB, which may hold many runs'
    studies, prefixed by a hash of the run folder where the study was made (it stays in ``study.json``, so a
    moved or copied run keeps its study)."""
    if setting == "journal":
        return f"{modality}-{model}"
    return f"msci-{hashlib.sha256(os.path.abspath('.').encode()).hexdigest()[:10]}-{modality}-{model}"


def create_study(setting: str, journal: str | Path, name: str, out_path: str, spec: Mapping[str, Any]) -> None:
    """A new, empty study ``name`` (a journal file or a same-named RDB study left by an earlier run is replaced),
    described in ``out_path`` (JSON: name, storage, search space, base params)."""
    if setting == "journal":
        for path in (Path(journal), Path(f"{journal}.lock")):
            path.unlink(missing_ok=True)
    store = storage(setting, journal)
    try:
        optuna.delete_study(study_name=name, storage=store)
    except KeyError:
        pass
    optuna.create_study(study_name=name, storage=store, direction="maximize")
    write_json({"study_name": name, "storage": "journal" if setting == "journal" else "rdb",
                "journal": str(journal) if setting == "journal" else None, **spec}, out_path)
    log.info("study %s created (%s storage)", name, "journal" if setting == "journal" else "RDB")


def suggest(trial: optuna.Trial, name: str, spec: Mapping[str, Any]) -> Any:
    """One parameter's value: from ``choices`` (any JSON value, lists too), or between ``low`` and ``high``
    (integers when both are integers; ``log`` and ``step`` as Optuna's)."""
    if "choices" in spec:
        encoded = [json.dumps(c) for c in spec["choices"]]
        return json.loads(trial.suggest_categorical(name, encoded))
    low, high = spec["low"], spec["high"]
    if isinstance(low, int) and isinstance(high, int) and not isinstance(spec.get("step", 1), float):
        return trial.suggest_int(name, low, high, step=int(spec.get("step", 1)), log=bool(spec.get("log", False)))
    return trial.suggest_float(name, float(low), float(high), step=spec.get("step"), log=bool(spec.get("log", False)))


def decode(params: Mapping[str, Any], space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A trial's stored params as model params (choices stored as JSON text decoded)."""
    return {k: json.loads(v) if "choices" in space.get(k, {}) else v for k, v in params.items()}


class Objective:
    """One trial: the model cross-validated with the trial's params over ``base`` ones; pruned between folds."""

    def __init__(self, model_type: str, base: Mapping[str, Any], space: Mapping[str, Mapping[str, Any]],
                 data: TrainingData, seed: int, stop_fraction: float, threads: int | None) -> None:
        self.model_type, self.base, self.space, self.data = model_type, dict(base), dict(space), data
        self.seed, self.stop_fraction, self.threads = seed, stop_fraction, threads
        # Scored as the blend fits its weights: every OOF cell where the folds hold out whole batches, else the
        # good-validation cells (all where there are none).
        good = data.good if data.stop_groups is None else None
        self.scored = good if good is not None and good.any() else np.ones(len(data.train_ids), bool)
        self.X = data.X.to_numpy()  # once for every trial

    def __call__(self, trial: optuna.Trial) -> float:
        params = {**self.base, **{k: suggest(trial, k, spec) for k, spec in self.space.items()}}
        total, count = 0.0, 0

        def report(k: int, rows: np.ndarray, pearson: np.ndarray) -> None:
            nonlocal total, count
            keep = self.scored[rows]
            total, count = total + float(pearson[keep].sum()), count + int(keep.sum())
            trial.report(total / max(count, 1), step=k)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after fold {k}")

        result = cross_validate(lambda k: make_model(self.model_type, params, seed=self.seed + k, threads=self.threads),
                                self.X, self.data.splits, self.data.fold, None, stop_labels=self.data.good,
                                stop_groups=self.data.stop_groups,
                                stop_fraction=self.stop_fraction, seed=self.seed, on_score=report,
                                groups=self.data.batches)
        value = float(result.pearson[self.scored].mean())
        if not math.isfinite(value):
            raise FloatingPointError(f"the CV Pearson is {value}")
        return value


def _alive(trials: Sequence[optuna.trial.FrozenTrial], upto: int | None = None) -> int:
    """Trials finished or running (numbered at most ``upto``)."""
    return sum(t.state in (*FINISHED, TrialState.RUNNING) and (upto is None or t.number <= upto) for t in trials)


def fail_interrupted(study: optuna.Study, worker: int, n_workers: int) -> int:
    """Mark as failed the trials left running by this worker index's killed predecessor (or by worker indices no
    longer configured); return how many."""
    now = datetime.datetime.now()

    def stale(t: optuna.trial.FrozenTrial) -> bool:
        w = t.user_attrs.get("worker")
        if w is None:  # its worker was killed between asking for it and naming itself
            return t.datetime_start is not None and (now - t.datetime_start).total_seconds() > ORPHAN_SECONDS
        return w == worker or w >= n_workers

    left = [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if stale(t)]
    for t in left:
        study.tell(t.number, state=TrialState.FAIL)
        log.warning("trial %d of worker %s was interrupted: marked failed, to be replaced", t.number,
                    t.user_attrs.get("worker", "unknown"))
    return len(left)


def run_worker(study: optuna.Study, objective: Objective, n_trials: int, worker: int, n_workers: int) -> dict:
    """Add trials to ``study`` until ``n_trials`` are finished (complete or pruned) across all workers."""
    interrupted = fail_interrupted(study, worker, n_workers)
    ran, fails, t0 = 0, 0, time.perf_counter()
    while _alive(study.get_trials(deepcopy=False)) < n_trials:
        trial = study.ask()
        trial.set_user_attr("worker", worker)
        if _alive(study.get_trials(deepcopy=False), upto=trial.number) > n_trials:
            trial.set_user_attr("surplus", True)  # another worker took the last trial meanwhile
            study.tell(trial, state=TrialState.FAIL)
            break
        start = time.perf_counter()
        try:
            value = objective(trial)
        except optuna.TrialPruned as pruned:
            study.tell(trial, state=TrialState.PRUNED)
            log.info("trial %d pruned (%s, %.1f s)", trial.number, pruned, time.perf_counter() - start)
        except Exception as err:  # a trial's params that break the model fail that trial only, a few times
            study.tell(trial, state=TrialState.FAIL)
            fails += 1
            log.warning("trial %d failed: %s: %s", trial.number, type(err).__name__, err)
            if fails >= MAX_FAILS_IN_A_ROW:
                raise RuntimeError(f"{fails} trials in a row failed; the last: {type(err).__name__}: {err}") from err
            continue
        else:
            study.tell(trial, value)
            log.info("trial %d: %.4f with %s (%.1f s)", trial.number, value, trial.params,
                     time.perf_counter() - start)
        ran, fails = ran + 1, 0
    finished = sum(t.state in FINISHED for t in study.get_trials(deepcopy=False))
    log.info("worker %d: %d trials run (%d interrupted ones replaced); the study has %d of %d finished", worker, ran,
             interrupted, finished, n_trials)
    return {"worker": worker, "trials_run": ran, "interrupted_marked_failed": interrupted,
            "seconds": time.perf_counter() - t0, "study_finished_trials": finished}


def tune_worker(study_path: str, model_type: str, base: Mapping[str, Any], space: Mapping[str, Mapping[str, Any]],
                feature_paths: Sequence[str], targets: TargetFiles, cells_path: str, folds_path: str, *,
                setting: str, n_trials: int, worker: int, n_workers: int, seed: int, stop_fraction: float,
                threads: int | None, out_path: str, pretrainer: str | None = None) -> dict:
    """One worker job: load the study and the training data, add trials, write what it did as JSON.
    ``pretrainer``: a TabNet model's cached pre-training, which every trial fine-tunes from (as train_model)."""
    if pretrainer:
        base = {**base, "pretrainer_path": pretrainer}
    info = json.loads(Path(study_path).read_text())
    store = storage(setting, info["journal"] or "")
    # Seeded per worker and per resumption (a restarted worker does not redraw its first trials' params).
    sampler = optuna.samplers.TPESampler(seed=seed + 1000 * worker + len(
        optuna.load_study(study_name=info["study_name"], storage=store).get_trials(deepcopy=False)))
    study = optuna.load_study(study_name=info["study_name"], storage=store, sampler=sampler,
                              pruner=optuna.pruners.MedianPruner(n_warmup_steps=1))
    data = load_training(feature_paths, targets, cells_path, folds_path)
    log.info("worker %d of %d: %s on %d cells × %d features, study %s", worker, n_workers, model_type,
             *data.X.shape, info["study_name"])
    out = run_worker(study, Objective(model_type, base, space, data, seed, stop_fraction, threads), n_trials,
                     worker, n_workers)
    write_json(out, out_path)
    return out


def trials_table(study: optuna.Study, space: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Every trial: number, state, value, params (one column each, JSON for choices), duration (s), worker."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        seconds = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else None
        rows.append({"number": t.number, "state": t.state.name, "value": t.value,
                     **{f"param_{k}": json.dumps(v) if isinstance(v, list) else v
                        for k, v in decode(t.params, space).items()},
                     "duration_seconds": seconds, "worker": t.user_attrs.get("worker")})
    return pd.DataFrame(rows)


def summarize(study_path: str, setting: str, space: Mapping[str, Mapping[str, Any]], out_best: str,
              out_trials: str, out_importances: str) -> dict:
    """``best.yaml`` (the best trial's params, value, number), ``trials.csv`` and the params' importances."""
    import yaml

    info = json.loads(Path(study_path).read_text())
    study = optuna.load_study(study_name=info["study_name"], storage=storage(setting, info["journal"] or ""))
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise RuntimeError(f"study {info['study_name']}: no trial completed; see the tune_worker logs")
    best = study.best_trial
    table = trials_table(study, space)
    with atomic_path(out_trials) as tmp:
        table.to_csv(tmp, index=False)
    importances: dict[str, float] = {}
    if len(complete) >= 2 and len(space) > 1:
        try:
            importances = {k: float(v) for k, v in optuna.importance.get_param_importances(study).items()}
        except (RuntimeError, ValueError) as err:  # e.g. every completed trial scored the same
            log.warning("no parameter importances: %s", err)
    elif len(space) == 1:
        importances = {next(iter(space)): 1.0}
    write_json({"importances": importances, "n_complete": len(complete)}, out_importances)
    doc = {"params": decode(best.params, space), "value": float(best.value), "trial": int(best.number),
           "n_trials": int(sum(t.state in FINISHED for t in study.get_trials(deepcopy=False)))}
    with atomic_path(out_best) as tmp:
        Path(tmp).write_text(yaml.safe_dump(doc, sort_keys=True))
    log.info("study %s: best %.4f (trial %d) with %s; %d trials (%s)", info["study_name"], best.value, best.number,
             doc["params"], len(table), table["state"].value_counts().to_dict())
    return doc
