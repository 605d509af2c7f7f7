"""Target codecs per CV split: every CV score goes through a basis that its scored cells did not help fit."""

import json

import numpy as np
import pandas as pd
import pytest
from conftest import encode

from msci.cv import cross_validate
from msci.ensemble import BlendFiles, BlendOutputs, BlendSettings, ensemble_models
from msci.io.matrix import MatrixFile, write_matrix
from msci.metrics import row_pearson
from msci.models.linear import RidgeRegressor
from msci.split_codecs import load_split_codes
from msci.target_codes import load_codec
from msci.training import train_model
from msci.validation.folds import make_folds

N, N_TEST, GENES = 240, 30, 50


def _data(seed=0, rank=12, noise=0.5):
    """Features, low-rank targets with per-cell levels, and a cell table with three days (the latest is day out)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N + N_TEST, 10))
    Y = np.tanh(X[:N] @ rng.normal(size=(10, rank))) @ rng.normal(size=(rank, GENES)) + noise * rng.normal(
        size=(N, GENES))
    Y += rng.normal(3, 1, size=(N, 1))
    ids = np.array([f"c{i}" for i in range(N + N_TEST)], dtype=object)
    cells = pd.DataFrame({"split": ["train"] * N + ["test"] * N_TEST, "day": np.r_[np.arange(N) % 3 + 2, [7] * N_TEST]},
                         index=ids)
    return X, Y.astype(np.float32), cells


def _write_inputs(folder, X, Y, cells):
    """Feature table, training targets, cells and folds (3 folds, day out) as the workflow's rules write them."""
    folder.mkdir(exist_ok=True)
    ids = cells.index.to_numpy()
    pd.DataFrame(X, index=pd.Index(ids, name="cell_id"), columns=[f"f{j}" for j in range(X.shape[1])]).to_parquet(
        folder / "f.parquet")
    write_matrix(folder / "y.h5ad", Y, ids[:N], [f"g{j}" for j in range(Y.shape[1])])
    cells.to_parquet(folder / "cells.parquet")
    make_folds(cells, "kfold", 3, seed=0).to_parquet(folder / "folds.parquet")


def _train(folder, files, alpha=1.0) -> dict:
    """Rule train_model's library call (ridge); its metrics."""
    out = {k: str(folder / f"{k}.h5ad") for k in ("oof", "test", "day_out")}
    return train_model("ridge", {"alpha": alpha}, [str(folder / "f.parquet")], files, str(folder / "cells.parquet"),
                       str(folder / "folds.parquet"), out["oof"], out["test"], str(folder / "metrics.json"),
                       out_day_out=out["day_out"])


def _run(folder, X, Y, cells, method="svd", n_components=8):
    _write_inputs(folder, X, Y, cells)
    kw = {} if method == "none" else {"n_components": n_components}
    files = encode(folder, folder / "y.h5ad", folder / "folds.parquet", method, **kw)
    return files, _train(folder, files)


def _fold(folder) -> np.ndarray:
    return pd.read_parquet(folder / "folds.parquet")["fold"].to_numpy()


def test_a_folds_codec_and_oof_predictions_ignore_its_held_out_cells_targets(tmp_path):
    X, Y, cells = _data()
    files, _ = _run(tmp_path / "a", X, Y, cells)
    held = _fold(tmp_path / "a") == 0
    Y2 = Y.copy()
    Y2[held] = np.random.default_rng(9).normal(3, 2, size=(held.sum(), GENES))  # fold 0's cells: other targets
    files2, _ = _run(tmp_path / "b", X, Y2, cells)
    a, b = load_split_codes(files), load_split_codes(files2)
    with np.load(files.split_codecs) as za, np.load(files2.split_codecs) as zb:
        np.testing.assert_allclose(za["decoders"][0], zb["decoders"][0], atol=1e-5)  # split fold_0's codec
        # The global codec saw fold 0's cells (what this test would catch if a fold used it).
        assert np.abs(load_codec(files.codec)[0].decoder - load_codec(files2.codec)[0].decoder).max() > 0.01
    np.testing.assert_allclose(a.codes(0)[0][~held], b.codes(0)[0][~held], atol=1e-4)
    oof_a, oof_b = MatrixFile(tmp_path / "a" / "oof.h5ad").read(), MatrixFile(tmp_path / "b" / "oof.h5ad").read()
    np.testing.assert_allclose(oof_a[held], oof_b[held], atol=1e-4)


def test_cv_scores_are_the_exact_pearson_of_oof_rows_decoded_by_their_folds_codec(tmp_path):
    X, Y, cells = _data(seed=1)
    files, metrics = _run(tmp_path, X, Y, cells)
    splits = load_split_codes(files)
    assert splits.splits.names == ["fold_0", "fold_1", "fold_2", "day_out"]
    genes = splits.decode_held_out(0, N, MatrixFile(tmp_path / "oof.h5ad").read())
    assert np.isclose(metrics["cv_pearson"], row_pearson(Y, genes).mean(), atol=1e-5)
    latest = pd.read_parquet(tmp_path / "folds.parquet")["day_out"].to_numpy(bool)
    with np.load(files.split_codecs) as z:
        day_out_genes = MatrixFile(tmp_path / "day_out.h5ad").read() @ z["decoders"][3]
    assert np.isclose(metrics["cv_pearson_day_out"], row_pearson(Y[latest], day_out_genes).mean(), atol=1e-5)
    # The blend scores OOF rows against the same held-out truth: one model's blend figures equal its own.
    blend = ensemble_models(
        BlendFiles({"ridge": str(tmp_path / "oof.h5ad")}, {"ridge": str(tmp_path / "test.h5ad")},
                   {"ridge": str(tmp_path / "day_out.h5ad")}, files, str(tmp_path / "cells.parquet"),
                   str(tmp_path / "folds.parquet")),
        BlendOutputs(*(str(tmp_path / f"blend_{k}") for k in ("oof", "test", "weights", "metrics"))),
        BlendSettings("mean", {}, "row", "all", n_trials=1, n_seeds=1, stack_shrinkage=1.0, seed=0))
    assert np.isclose(blend["models"]["ridge"]["cv_pearson"], metrics["cv_pearson"], atol=1e-5)
    assert np.isclose(blend["cv_pearson_day_out"], metrics["cv_pearson_day_out"], atol=1e-5)


def test_test_predictions_are_in_the_global_code_space(tmp_path):
    # Targets of exact rank k (rows already centred): every split's basis spans the global one.
    rng = np.random.default_rng(2)
    X, _, cells = _data(seed=2)
    W = rng.normal(size=(6, GENES))
    Y = (np.tanh(X[:N] @ rng.normal(size=(10, 6))) @ (W - W.mean(axis=1, keepdims=True))).astype(np.float32)
    files, _ = _run(tmp_path, X, Y, cells, n_components=6)
    splits, fold = load_split_codes(files), _fold(tmp_path)
    X_test = X[N:]
    with np.load(files.split_codecs) as z:
        decoders = z["decoders"]
    own = np.mean([RidgeRegressor(alpha=1.0).fit(X[:N][fold != k], splits.codes(k)[0][fold != k]).predict(X_test)
                   @ decoders[k] for k in range(3)], axis=0)  # each fold model decoded by its own codec
    test = MatrixFile(tmp_path / "test.h5ad")
    assert list(test.obs_names) == list(cells.index[N:])
    np.testing.assert_allclose(load_codec(files.codec)[0].decode(test.read()), own, atol=1e-4)


def test_exact_targets_train_as_before_and_store_no_split_codes(tmp_path):
    X, Y, cells = _data(seed=3)
    files, metrics = _run(tmp_path, X, Y, cells, method="none")
    assert MatrixFile(files.split_codes).shape == (0, GENES)
    fold = _fold(tmp_path)
    before = cross_validate(lambda k: RidgeRegressor(alpha=1.0), X[:N], Y, fold, X[N:])  # one matrix for all folds
    np.testing.assert_allclose(MatrixFile(tmp_path / "oof.h5ad").read(), before.oof, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(MatrixFile(tmp_path / "test.h5ad").read(), before.test, rtol=1e-5, atol=1e-5)
    assert np.isclose(metrics["cv_pearson"], row_pearson(Y, before.oof).mean(), atol=1e-5)


def test_every_split_gets_as_many_codes_as_the_smallest_training_set_allows(tmp_path):
    X, Y, cells = _data(seed=4)
    _write_inputs(tmp_path, X, Y, cells)
    folds = pd.read_parquet(tmp_path / "folds.parquet")
    keep = folds.index[:12]  # 12 training cells: splits train on 8 (folds) or fewer (day out)
    write_matrix(tmp_path / "small.h5ad", Y[:12], keep, [f"g{j}" for j in range(GENES)])
    folds.loc[keep].to_parquet(tmp_path / "small_folds.parquet")
    files = encode(tmp_path, tmp_path / "small.h5ad", tmp_path / "small_folds.parquet", "svd", n_components=20)
    smallest = int((~load_split_codes(files).splits.held_out).sum(axis=1).min())
    assert load_codec(files.codec)[0].n_codes == smallest  # k = smallest − 1 components → k + 1 codes
    with np.load(files.split_codecs) as z:
        assert z["decoders"].shape[1] == smallest and z["maps"].shape[1:] == (smallest, smallest)


def test_split_codes_of_other_folds_are_refused(tmp_path):
    X, Y, cells = _data(seed=5)
    files, _ = _run(tmp_path, X, Y, cells, method="none")
    make_folds(cells, "kfold", 4, seed=1).to_parquet(tmp_path / "folds.parquet")
    with pytest.raises(ValueError, match="CV splits differ from .*folds.parquet"):
        _train(tmp_path, files)


def test_metrics_and_prediction_files_say_which_code_space_they_hold(tmp_path):
    X, Y, cells = _data(seed=6)
    _run(tmp_path, X, Y, cells)
    import anndata as ad

    spaces = {k: ad.read_h5ad(tmp_path / f"{k}.h5ad").uns["code_space"] for k in ("oof", "test", "day_out")}
    assert spaces == {"oof": "codes of the fold holding the cell out", "test": "global codes",
                      "day_out": "day-out codes"}
    assert json.loads((tmp_path / "metrics.json").read_text())["cv_pearson"] > 0.5
