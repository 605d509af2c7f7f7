import json

import numpy as np
import pandas as pd
import pytest
from conftest import encode

from msci.ensemble import (
    BlendFiles,
    BlendOutputs,
    BlendSettings,
    blend,
    ensemble_models,
    matrix_standardize,
    optimize_weights,
    row_standardize,
    stack_weights,
)
from msci.io.checks import InputError
from msci.io.matrix import MatrixFile, write_matrix
from msci.metrics import mean_row_pearson
from msci.submission import build_submission


def test_row_standardisation_gives_zero_mean_unit_sd_rows_and_keeps_pearson():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(20, 9)) * rng.uniform(0.1, 10, size=(20, 1)) + rng.normal(size=(20, 1)) * 5
    p[3] = 2.0
    z = row_standardize(p)
    np.testing.assert_allclose(z[[0, 1, 2, 4]].mean(axis=1), 0, atol=1e-6)
    np.testing.assert_allclose(z[[0, 1, 2, 4]].std(axis=1), 1, rtol=1e-5)
    assert (z[3] == 0).all()
    y = rng.normal(size=(20, 9))
    assert np.isclose(mean_row_pearson(y, z), mean_row_pearson(y, p), atol=1e-6)
    m = matrix_standardize(p)
    assert np.isclose(m.mean(), 0, atol=1e-6) and np.isclose(m.std(), 1, rtol=1e-5)


def _two_models(seed=0, n=400, t=12):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, t))
    a = y + rng.normal(size=(n, t)) * 1.0            # good model
    b = y * 0.2 + rng.normal(size=(n, t)) * 1.0      # weak model, independent errors
    return y, row_standardize(a), row_standardize(b)


def test_optuna_weights_reproduce_with_the_same_seed_and_favour_the_better_model():
    y, a, b = _two_models()
    w1 = optimize_weights([a, b], y, n_trials=30, seed=7)
    w2 = optimize_weights([a, b], y, n_trials=30, seed=7)
    np.testing.assert_array_equal(w1, w2)
    assert np.isclose(w1.sum(), 1) and w1[0] > w1[1]
    assert mean_row_pearson(y, blend([a, b], w1)) >= max(mean_row_pearson(y, a), mean_row_pearson(y, b))


def _model_files(tmp_path, preds, y, ids, test_ids):
    genes = [f"g{j}" for j in range(y.shape[1])]
    oof, test = {}, {}
    for name, p in preds.items():
        oof[name], test[name] = str(tmp_path / f"{name}_oof.h5ad"), str(tmp_path / f"{name}_test.h5ad")
        write_matrix(oof[name], p.astype(np.float32), ids, genes)
        write_matrix(test[name], p[: len(test_ids)].astype(np.float32), test_ids, genes)
    write_matrix(tmp_path / "y.h5ad", y.astype(np.float32), ids, genes)
    return oof, test


BLEND = {"method": "optuna", "weights": {}, "standardize": "row", "fit_on": "good_validation", "n_trials": 20,
         "n_seeds": 3, "stack_shrinkage": 1.0, "seed": 0}


def _ensemble(tmp_path, oof, test, day_out=None, chunk_rows=4096, **settings) -> dict:
    """``ensemble_models`` on the files ``_model_files`` wrote (cells and folds tables under ``tmp_path``)."""
    targets = encode(tmp_path, tmp_path / "y.h5ad", tmp_path / "folds.parquet")  # exact targets, as for CITE
    files = BlendFiles(oof=oof, test=test, day_out=day_out or {}, targets=targets,
                       cells=str(tmp_path / "cells.parquet"), folds=str(tmp_path / "folds.parquet"))
    out = BlendOutputs(**{k: str(tmp_path / f"blend_{k}") for k in ("oof", "test", "weights", "metrics")})
    return ensemble_models(files, out, BlendSettings(**{**BLEND, **settings}), chunk_rows=chunk_rows)


def test_ensemble_writes_weights_metrics_and_a_holdout_score(tmp_path):
    y, a, b = _two_models(n=300)
    ids = [f"c{i}" for i in range(300)]
    test_ids = [f"t{i}" for i in range(50)]
    oof, test = _model_files(tmp_path, {"good": a, "weak": b}, y, ids, test_ids)
    cells = pd.DataFrame({"split": "train", "day": np.arange(300) % 3 + 2}, index=ids)
    cells.to_parquet(tmp_path / "cells.parquet")
    folds = pd.DataFrame({"fold": np.arange(300) % 4, "good_validation": np.arange(300) % 5 == 0}, index=ids)
    folds.to_parquet(tmp_path / "folds.parquet")
    m = _ensemble(tmp_path, oof, test, n_trials=20, seed=1)
    assert m["n_fit_cells"] == 60 and m["best_single_model_holdout"] == ["good", "good"]
    # Headline: weights fit on the fit cells of half of the folds, scored on the other half, over 3 search seeds.
    assert len(m["cv_pearson_holdout_by_seed"]) == 3
    assert np.isclose(m["cv_pearson_holdout"], np.mean(m["cv_pearson_holdout_by_seed"]))
    assert m["cv_pearson_holdout_sd"] >= 0 and np.isfinite(m["best_single_cv_pearson_holdout"])
    assert np.isclose(m["blend_gain_holdout"], m["cv_pearson_holdout"] - m["best_single_cv_pearson_holdout"])
    # In-sample figures say so; no day-out predictions were given.
    assert {"cv_pearson_in_sample", "cv_pearson_good_validation_in_sample", "cv_pearson_fit_cells_in_sample",
            "cv_pearson_matrix_standardized_in_sample"} <= set(m) and "cv_pearson" not in m
    assert m["cv_pearson_day_out"] is None
    assert set(m["weights"]) == {"good", "weak"}


@pytest.mark.parametrize("grouped, n_fit", [(True, 300), (False, 60)])
def test_auto_fits_weights_on_every_oof_cell_when_folds_hold_out_batches_else_on_good_validation(
        tmp_path, grouped, n_fit):
    y, a, b = _two_models(n=300)
    ids = [f"c{i}" for i in range(300)]
    oof, test = _model_files(tmp_path, {"good": a, "weak": b}, y, ids, ids[:20])
    pd.DataFrame({"split": "train", "day": 2}, index=ids).to_parquet(tmp_path / "cells.parquet")
    folds = pd.DataFrame({"fold": np.arange(300) % 4, "good_validation": np.arange(300) % 5 == 0}, index=ids)
    if grouped:
        folds["stop_group"] = [f"donor{k}" for k in folds["fold"]]
    folds.to_parquet(tmp_path / "folds.parquet")
    m = _ensemble(tmp_path, oof, test, n_trials=10, fit_on="auto")
    assert m["fit_on"] == ("all" if grouped else "good_validation") and m["n_fit_cells"] == n_fit


def test_holdout_chooses_weights_and_best_single_model_on_one_half_and_scores_the_other(tmp_path):
    # Model "even" is perfect on the cells of even folds and noise on odd folds; "odd" the reverse.
    rng = np.random.default_rng(0)
    n = 240
    y = rng.normal(size=(n, 10))
    ids = [f"c{i}" for i in range(n)]
    fold = np.arange(n) % 4
    even = np.where((fold % 2 == 0)[:, None], y, rng.normal(size=y.shape))
    odd = np.where((fold % 2 == 1)[:, None], y, rng.normal(size=y.shape))
    oof, test = _model_files(tmp_path, {"even": even, "odd": odd}, y, ids, ids[:10])
    pd.DataFrame({"split": "train", "day": 2}, index=ids).to_parquet(tmp_path / "cells.parquet")
    pd.DataFrame({"fold": fold, "good_validation": True}, index=ids).to_parquet(tmp_path / "folds.parquet")
    m = _ensemble(tmp_path, oof, test, n_trials=30)
    # Chosen on even folds, the "even" model is scored on odd folds, where it is noise (and vice versa).
    assert m["best_single_model_holdout"] == ["even", "odd"]
    assert abs(m["best_single_cv_pearson_holdout"]) < 0.1
    # Weights fit on one half favour the model that is noise on the other: far below the in-sample figure.
    assert m["cv_pearson_holdout"] < m["cv_pearson_fit_cells_in_sample"] - 0.2


def test_blend_day_out_score_uses_weights_fit_on_the_other_days(tmp_path):
    y, a, b = _two_models(n=300)
    ids = [f"c{i}" for i in range(300)]
    oof, test = _model_files(tmp_path, {"good": a, "weak": b}, y, ids, ids[:20])
    day = np.arange(300) % 3 + 2
    pd.DataFrame({"split": "train", "day": day}, index=ids).to_parquet(tmp_path / "cells.parquet")
    folds = pd.DataFrame({"fold": np.arange(300) % 4, "good_validation": np.arange(300) % 2 == 0,
                          "day_out": day == 4}, index=ids)
    folds.to_parquet(tmp_path / "folds.parquet")
    # Day-out predictions: the good model's are the truth itself, the weak one's noise.
    rows = np.flatnonzero(day == 4)
    noise = np.random.default_rng(1).normal(size=(len(rows), y.shape[1]))
    day_out = {}
    for name, p in {"good": y[rows], "weak": noise}.items():
        day_out[name] = str(tmp_path / f"{name}_day_out.h5ad")
        write_matrix(day_out[name], p.astype(np.float32), np.array(ids)[rows], [f"g{j}" for j in range(y.shape[1])])
    m = _ensemble(tmp_path, oof, test, day_out, chunk_rows=16, n_trials=30)
    assert np.isclose(m["models"]["good"]["cv_pearson_day_out"], 1.0)
    assert abs(m["models"]["weak"]["cv_pearson_day_out"]) < 0.1
    assert 0.5 < m["cv_pearson_day_out"] < 1.0 and m["day_out_weights"] == "fit on the fit cells of the other days"
    pd.concat([folds.iloc[:0], folds.assign(day_out=folds["good_validation"])]).to_parquet(tmp_path / "folds.parquet")
    with pytest.raises(ValueError, match="good_day_out.h5ad: cells or targets differ"):
        _ensemble(tmp_path, oof, test, day_out, n_trials=5)


def test_weights_fit_on_the_day_out_cells_favour_the_model_that_holds_up_on_a_new_day(tmp_path):
    rng = np.random.default_rng(2)
    n = 300
    y = rng.normal(size=(n, 12))
    ids = [f"c{i}" for i in range(n)]
    # OOF (days seen in training): "shifty" is the truth, "steady" half noise; on the held-out day the reverse.
    oof, test = _model_files(tmp_path, {"shifty": y, "steady": y + rng.normal(size=y.shape)}, y, ids, ids[:20])
    day = np.arange(n) % 3 + 2
    pd.DataFrame({"split": "train", "day": day}, index=ids).to_parquet(tmp_path / "cells.parquet")
    folds = pd.DataFrame({"fold": np.arange(n) % 4, "good_validation": True, "day_out": day == 4}, index=ids)
    folds.to_parquet(tmp_path / "folds.parquet")
    rows = np.flatnonzero(day == 4)
    day_out = {}
    for name, p in {"shifty": rng.normal(size=(len(rows), 12)), "steady": y[rows]}.items():
        day_out[name] = str(tmp_path / f"{name}_day_out.h5ad")
        write_matrix(day_out[name], p.astype(np.float32), np.array(ids)[rows], [f"g{j}" for j in range(12)])
    oof_fit = _ensemble(tmp_path, oof, test, day_out, n_trials=30)
    assert oof_fit["weights"]["shifty"] > oof_fit["weights"]["steady"]
    m = _ensemble(tmp_path, oof, test, day_out, n_trials=30, fit_on="day_out")
    assert m["fit_on"] == "day_out" and m["n_fit_cells"] == len(rows)
    assert m["weights"]["steady"] > 0.9
    # Weights chosen on half of the day-out cells, scored on the other half: near the steady model's perfect score.
    assert m["cv_pearson_holdout"] > 0.95
    assert m["cv_pearson_day_out"] is None and m["day_out_weights"].startswith("none: the blend's weights are fit on")
    # Day-grouped folds put the whole day-out day in one fold: its halves are then whole batches (donors).
    folds.assign(fold=day - 2, stop_group=[f"d{i % 5}/{d}" for i, d in enumerate(day)]).to_parquet(
        tmp_path / "folds.parquet")
    grouped = _ensemble(tmp_path, oof, test, day_out, n_trials=30, fit_on="day_out")
    assert grouped["cv_pearson_holdout"] > 0.95 and grouped["weights"]["steady"] > 0.9
    folds.assign(day_out=False).to_parquet(tmp_path / "folds.parquet")  # a single training day: OOF cells instead
    assert _ensemble(tmp_path, oof, test, {}, n_trials=5, fit_on="day_out")["fit_on"] == "good_validation"


def _specialists(seed=0, n=600, t=12):
    """Truth and two models: "left" good on the first half of the targets and noise on the rest, "right" the reverse."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=(n, t))
    first = np.arange(t) < t // 2
    left = np.where(first, y + 0.3 * rng.normal(size=y.shape), rng.normal(size=y.shape))
    right = np.where(first, rng.normal(size=y.shape), y + 0.3 * rng.normal(size=y.shape))
    return y, row_standardize(left), row_standardize(right), first


def test_stacked_weights_favour_each_targets_better_model_and_beat_one_weight_per_model_on_new_cells():
    y, left, right, first = _specialists()
    fit, new = slice(0, 400), slice(400, None)
    prior = optimize_weights([left[fit], right[fit]], y[fit], n_trials=30, seed=0)
    w = stack_weights([left[fit], right[fit]], y[fit], prior, shrinkage=0.1)
    assert w.shape == (2, 12) and np.allclose(w.sum(axis=0), 1) and (w >= 0).all()
    assert (w[0, first] > 0.8).all() and (w[1, ~first] > 0.8).all()
    stacked = mean_row_pearson(y[new], blend([left[new], right[new]], w))
    assert stacked > mean_row_pearson(y[new], blend([left[new], right[new]], prior)) + 0.1
    # Shrunk all the way, every target keeps the prior's mix.
    far = stack_weights([left[fit], right[fit]], y[fit], prior, shrinkage=1e9)
    np.testing.assert_allclose(far, np.repeat(prior[:, None], 12, axis=1), atol=1e-4)


def test_stack_method_writes_per_target_weights_and_blends_with_them(tmp_path):
    y, left, right, first = _specialists(n=300)
    ids = [f"c{i}" for i in range(300)]
    oof, test = _model_files(tmp_path, {"left": left, "right": right}, y, ids, ids[:40])
    pd.DataFrame({"split": "train", "day": 2}, index=ids).to_parquet(tmp_path / "cells.parquet")
    folds = pd.DataFrame({"fold": np.arange(300) % 4, "good_validation": True}, index=ids)
    folds.to_parquet(tmp_path / "folds.parquet")
    optuna = _ensemble(tmp_path, oof, test, n_trials=20)
    m = _ensemble(tmp_path, oof, test, n_trials=20, method="stack", stack_shrinkage=0.1)
    saved = json.loads((tmp_path / "blend_weights").read_text())
    w = np.array([saved["left"], saved["right"]])
    assert w.shape == (2, 12) and (w[0, first] > w[1, first]).all() and (w[1, ~first] > w[0, ~first]).all()
    assert np.isclose(sum(m["weights"].values()), 1) and m["method"] == "stack"
    assert m["cv_pearson_holdout"] > optuna["cv_pearson_holdout"] + 0.1  # held-out halves: out of sample
    got = MatrixFile(tmp_path / "blend_test").read(0, 40)
    np.testing.assert_allclose(got, blend([left[:40], right[:40]], w), atol=1e-5)


def test_external_submission_joins_the_blend_and_is_checked(tiny_data, tmp_path):
    data, hidden = tiny_data
    y = pd.read_hdf(hidden / "test_cite_targets.h5")
    write_matrix(tmp_path / "p.h5ad", y.to_numpy(), y.index, y.columns)
    ev = pd.read_csv(data / "evaluation_ids.csv")
    cite_rows = ev["cell_id"].isin(y.index).to_numpy()
    rng = np.random.default_rng(0)
    ext = pd.DataFrame({"row_id": ev["row_id"], "target": rng.normal(size=len(ev))})
    ext.to_csv(tmp_path / "ext.csv", index=False)
    build_submission(str(data / "evaluation_ids.csv"), {"cite": str(tmp_path / "p.h5ad")}, str(tmp_path / "a.csv"),
                     require_all=False, chunk_rows=500)
    build_submission(str(data / "evaluation_ids.csv"), {"cite": str(tmp_path / "p.h5ad")}, str(tmp_path / "b.csv"),
                     require_all=False,
                     chunk_rows=500, external=[{"path": str(tmp_path / "ext.csv"), "weight": 1.0}])
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    assert len(a) == len(b) == cite_rows.sum()
    # Per cell: the blend is the mean of both submissions standardised within the cell's rows.
    cell = ev.loc[cite_rows, "cell_id"].to_numpy()
    first = cell == cell[0]
    std = lambda v: (v - v.mean()) / v.std()  # noqa: E731
    expected = (std(a["target"].to_numpy()[first]) + std(ext["target"].to_numpy()[cite_rows][first])) / 2
    np.testing.assert_allclose(b["target"].to_numpy()[first], expected, rtol=1e-4, atol=1e-5)
    ext.iloc[:-1].to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(InputError, match="short.csv: ends before evaluation_ids"):
        build_submission(str(data / "evaluation_ids.csv"), {"cite": str(tmp_path / "p.h5ad")},
                         str(tmp_path / "c.csv"), require_all=False,
                         external=[{"path": str(tmp_path / "short.csv"), "weight": 1}])
    ext.loc[5, "target"] = np.nan
    ext.to_csv(tmp_path / "nan.csv", index=False)
    with pytest.raises(InputError, match="nan.csv: non-finite target at row_id 5"):
        build_submission(str(data / "evaluation_ids.csv"), {"cite": str(tmp_path / "p.h5ad")},
                         str(tmp_path / "d.csv"), require_all=False,
                         external=[{"path": str(tmp_path / "nan.csv"), "weight": 1}])
    assert not (tmp_path / "c.csv").exists() and not (tmp_path / "d.csv").exists()


def test_blend_written_in_small_blocks_equals_the_whole_matrix_blend(tmp_path):
    y, a, b = _two_models(n=300)
    ids = [f"c{i}" for i in range(300)]
    test_ids = [f"t{i}" for i in range(50)]
    oof, test = _model_files(tmp_path, {"good": a, "weak": b}, y, ids, test_ids)
    pd.DataFrame({"split": "train", "day": 2}, index=ids).to_parquet(tmp_path / "cells.parquet")
    folds = pd.DataFrame({"fold": np.arange(300) % 4, "good_validation": np.arange(300) % 3 == 0}, index=ids)
    folds.to_parquet(tmp_path / "folds.parquet")
    m = _ensemble(tmp_path, oof, test, chunk_rows=17, method="fixed", weights={"good": 3, "weak": 1})
    expected = blend([a, b], [0.75, 0.25])
    np.testing.assert_allclose(MatrixFile(tmp_path / "blend_oof").read(), expected, atol=1e-5)
    np.testing.assert_allclose(MatrixFile(tmp_path / "blend_test").read(), expected[:50], atol=1e-5)
    assert np.isclose(m["cv_pearson_in_sample"], mean_row_pearson(y, expected), atol=1e-6)


@pytest.mark.parametrize("weights", [{}, {"good": 0}, {"gooood": 1}])
def test_fixed_weights_that_are_empty_zero_or_misnamed_are_refused(tmp_path, weights):
    y, a, b = _two_models(n=60)
    ids, test_ids = [f"c{i}" for i in range(60)], [f"t{i}" for i in range(10)]
    oof, test = _model_files(tmp_path, {"good": a, "weak": b}, y, ids, test_ids)
    pd.DataFrame({"split": "train", "day": 2}, index=ids).to_parquet(tmp_path / "cells.parquet")
    pd.DataFrame({"fold": np.arange(60) % 2}, index=ids).to_parquet(tmp_path / "folds.parquet")
    with pytest.raises(ValueError, match="weights"):
        _ensemble(tmp_path, oof, test, method="fixed", weights=weights)
    assert not any((tmp_path / f"blend_{k}").exists() for k in ("oof", "test", "weights", "metrics"))
