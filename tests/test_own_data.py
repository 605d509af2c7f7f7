"""Own data in: AnnData pairs and MuData files ingested into the workflow's artifacts, with clear errors."""

from __future__ import annotations

import warnings

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from msci.ensemble import row_standardize
from msci.ingest_anndata import check_own_data, ingest_own_data, write_test_targets
from msci.io.checks import InputError
from msci.io.matrix import MatrixFile, MatrixWriter, write_matrix
from msci.predictions import ScoreFiles, score_predictions, write_predictions
from msci.target_codes import TargetCodec
from msci.units import to_units

warnings.filterwarnings("ignore", message=".*not unique.*")


def counts_pair(n: int = 40, p: int = 30, g: int = 6, seed: int = 0, fmt: str = "csr") -> tuple[ad.AnnData, ad.AnnData]:
    """RNA-like counts (sparse) with obs annotations, and ADT-like targets for every cell."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=0.3, random_state=seed, format=fmt, dtype=np.float32,
                  data_rvs=lambda k: rng.integers(1, 20, k).astype(np.float32))
    names = [f"cell{i:03d}" for i in range(n)]
    obs = pd.DataFrame({"split": np.where(np.arange(n) % 4 == 0, "test", "train"),
                        "batch": np.where(np.arange(n) < n // 2, "s1d2", "s1d1"),
                        "donor": "d1", "cell_type": np.where(np.arange(n) % 3 == 0, "T", "B")}, index=names)
    rna = ad.AnnData(X, obs=obs, var=pd.DataFrame(index=[f"G{j}" for j in range(p)]))
    rna.layers["counts"] = X.copy()
    adt = ad.AnnData(rng.normal(size=(n, g)).astype(np.float32), obs=pd.DataFrame(index=names),
                     var=pd.DataFrame(index=[f"CD{j}" for j in range(g)]))
    return rna, adt


def outputs(tmp_path) -> dict[str, str]:
    return {"out_cells": str(tmp_path / "cells.parquet"), "out_inputs": str(tmp_path / "inputs.h5ad"),
            "out_targets": str(tmp_path / "targets.h5ad")}


@pytest.fixture
def pair(tmp_path):
    rna, adt = counts_pair()
    rna.write_h5ad(tmp_path / "rna.h5ad")
    adt.write_h5ad(tmp_path / "adt.h5ad")
    spec = {"format": "anndata", "inputs": str(tmp_path / "rna.h5ad"), "targets": str(tmp_path / "adt.h5ad"),
            "layer": "X", "normalize": "none", "test": {"column": "split", "value": "test"},
            "obs": {"day": "batch", "donor": "donor", "cell_type": "cell_type"}}
    return rna, adt, spec


def test_anndata_pair_ingests_train_then_test_cells_and_keeps_test_targets_out(pair, tmp_path):
    rna, adt, spec = pair
    cells = ingest_own_data("cite", spec, chunk_rows=7, **outputs(tmp_path))
    train = rna.obs_names[rna.obs["split"] == "train"]
    test = rna.obs_names[rna.obs["split"] == "test"]
    assert list(cells.index) == [*train, *test]
    assert (cells.loc[train, "split"] == "train").all() and (cells.loc[test, "split"] == "test").all()
    # day labels numbered in sorted order; annotations carried over
    assert cells.loc["cell000", "day"] == 1 and cells.loc[train[-1], "day"] == 0
    assert set(cells["cell_type"]) == {"T", "B"} and (cells["technology"] == "citeseq").all()
    inputs = MatrixFile(tmp_path / "inputs.h5ad")
    assert inputs.sparse and list(inputs.obs_names) == list(cells.index)
    np.testing.assert_array_equal(inputs.read().toarray(), rna[cells.index].X.toarray())
    targets = MatrixFile(tmp_path / "targets.h5ad")
    assert set(targets.obs_names) == set(train)  # test cells' targets never reach training
    np.testing.assert_allclose(targets.read(), adt[targets.obs_names].X)
    assert write_test_targets("cite", spec, str(tmp_path / "test_targets.h5ad"), chunk_rows=5) == len(test)
    truth = ad.read_h5ad(tmp_path / "test_targets.h5ad")
    assert set(truth.obs_names) == set(test) and set(truth.obs["cell_type"]) == {"T", "B"}
    np.testing.assert_allclose(truth.X, adt[truth.obs_names].X)


def test_without_a_test_column_test_cells_are_the_cells_without_targets(pair, tmp_path):
    rna, adt, spec = pair
    adt[:30].copy().write_h5ad(tmp_path / "adt_train.h5ad")
    spec = {**spec, "targets": str(tmp_path / "adt_train.h5ad"), "obs": {}}
    spec.pop("test")
    cells = ingest_own_data("cite", spec, **outputs(tmp_path))
    assert list(cells.index[cells["split"] == "test"]) == list(rna.obs_names[30:])
    assert (cells["day"] == 0).all() and (cells["donor"] == "unknown").all() and (cells["cell_type"] == "unknown").all()


def test_log1p_cp10k_scales_each_cell_to_ten_thousand_counts_from_a_layer(pair, tmp_path):
    rna, _, spec = pair
    ingest_own_data("cite", {**spec, "layer": "counts", "normalize": "log1p_cp10k"}, chunk_rows=9,
                    **outputs(tmp_path))
    m = MatrixFile(tmp_path / "inputs.h5ad")
    X = rna[m.obs_names].layers["counts"].toarray().astype(np.float64)
    expected = np.log1p(X / X.sum(axis=1, keepdims=True) * 1e4)
    assert m.sparse
    np.testing.assert_allclose(m.read().toarray(), expected, rtol=1e-5)


def test_clr_targets_are_seurats_centred_log_ratio_across_each_cells_proteins(pair, tmp_path):
    rna, _, spec = pair
    rng = np.random.default_rng(5)
    counts = rng.poisson(rng.gamma(1.0, 20.0, size=(rna.n_obs, 9))).astype(np.float32)
    counts[3] = 0  # a cell without counts stays zero
    adt = ad.AnnData(sp.csr_matrix(counts), obs=pd.DataFrame(index=rna.obs_names),
                     var=pd.DataFrame(index=[f"CD{j}" for j in range(9)]))
    adt.write_h5ad(tmp_path / "adt_counts.h5ad")
    ingest_own_data("cite", {**spec, "targets": str(tmp_path / "adt_counts.h5ad"), "target_normalize": "clr"},
                    chunk_rows=6, **outputs(tmp_path))
    m = MatrixFile(tmp_path / "targets.h5ad")
    x = counts[rna.obs_names.get_indexer(m.obs_names)].astype(np.float64)
    # Seurat: log1p(x / exp(sum(log1p(x[x > 0])) / length(x))), per cell (margin = 2)
    expected = np.log1p(x / np.exp(np.log1p(x).sum(axis=1, keepdims=True) / x.shape[1]))
    got = m.read()
    np.testing.assert_allclose(got.toarray() if sp.issparse(got) else got, expected, rtol=1e-5, atol=1e-6)


def test_mudata_atac_tfidf_matches_the_muon_formula(tmp_path):
    import mudata as md

    md.set_options(pull_on_update=False)

    rna, adt = counts_pair(n=36, p=50, g=5, seed=1)
    mdata = md.MuData({"atac": rna, "rna": adt})
    mdata.write(tmp_path / "data.h5mu")
    spec = {"format": "mudata", "path": str(tmp_path / "data.h5mu"), "inputs": "atac", "targets": "rna",
            "normalize": "tfidf", "test": {"column": "split", "value": "test"}}
    ingest_own_data("multi", spec, chunk_rows=8, **outputs(tmp_path))
    m = MatrixFile(tmp_path / "inputs.h5ad")
    X = rna[m.obs_names].X.toarray().astype(np.float64)
    tf = np.log1p(X / X.sum(axis=1, keepdims=True) * 1e4)
    col = X.sum(axis=0)
    idf = np.log1p(np.divide(len(X), col, out=np.zeros_like(col), where=col > 0))
    np.testing.assert_allclose(m.read().toarray(), tf * idf, rtol=1e-5)
    assert check_own_data("multi", spec)["multi"]["n_test_with_targets"] == 9


def test_csc_inputs_of_other_tools_ingest_like_csr(tmp_path):
    rna, adt = counts_pair(fmt="csc")
    rna.write_h5ad(tmp_path / "rna.h5ad")
    adt.write_h5ad(tmp_path / "adt.h5ad")
    spec = {"format": "anndata", "inputs": str(tmp_path / "rna.h5ad"), "targets": str(tmp_path / "adt.h5ad"),
            "test": {"column": "split", "value": "test"}}
    cells = ingest_own_data("cite", spec, chunk_rows=6, **outputs(tmp_path))
    np.testing.assert_array_equal(MatrixFile(tmp_path / "inputs.h5ad").read().toarray(), rna[cells.index].X.toarray())


def _bad_cases():
    """(name, how to break the pair, spec change, words the one-line message must hold)."""

    def rename_targets(rna, adt, tmp):
        adt.obs_names = [f"x{i}" for i in range(adt.n_obs)]

    def extra_target_cell(rna, adt, tmp):
        adt.obs_names = [*adt.obs_names[:-1], "stranger"]

    def nan_value(rna, adt, tmp):
        rna.X = rna.X.tocsr()
        rna.X.data[3] = np.nan

    def inf_target(rna, adt, tmp):
        adt.X[5, 1] = np.inf

    def nothing(rna, adt, tmp):
        pass

    def negative_count(rna, adt, tmp):
        rna.X = rna.X.tocsr()
        rna.X.data[0] = -1.0

    return [
        ("targets missing for all training cells", rename_targets, {}, ["no cell has targets", "adt.h5ad"]),
        ("mismatched cell names", extra_target_cell, {}, ["not cells of", "stranger"]),
        ("obs column does not exist", nothing, {"obs": {"day": "timepoint"}}, ["no column 'timepoint'", "rna.h5ad"]),
        ("test column does not exist", nothing, {"test": {"column": "fold", "value": "x"}}, ["no column 'fold'"]),
        ("no cell has the test value", nothing, {"test": {"column": "split", "value": "held"}}, ["no cell has"]),
        ("layer does not exist", nothing, {"layer": "spliced"}, ["no layer 'spliced'", "layers: counts"]),
        ("non-finite input", nan_value, {}, ["non-finite", "rna.h5ad"]),
        ("non-finite target", inf_target, {}, ["non-finite", "adt.h5ad"]),
        ("negative counts", negative_count, {"normalize": "log1p_cp10k"},
         ["negative values", "normalize log1p_cp10k expects counts", "rna.h5ad"]),
        ("negative target counts", nothing, {"target_normalize": "log1p_cp10k"},
         ["negative values", "target_normalize log1p_cp10k expects counts", "adt.h5ad"]),
    ]


@pytest.mark.parametrize("name,breaker,change,words", _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_bad_own_data_stops_with_one_line_naming_the_file_and_leaves_nothing(tmp_path, name, breaker, change, words):
    rna, adt = counts_pair()
    breaker(rna, adt, tmp_path)
    rna.write_h5ad(tmp_path / "rna.h5ad")
    adt.write_h5ad(tmp_path / "adt.h5ad")
    spec = {"format": "anndata", "inputs": str(tmp_path / "rna.h5ad"), "targets": str(tmp_path / "adt.h5ad"),
            "test": {"column": "split", "value": "test"}, **change}
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(InputError) as err:
        ingest_own_data("cite", spec, chunk_rows=8, **outputs(out))
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message
    assert list(out.iterdir()) == []


def test_a_missing_modality_of_the_mudata_file_is_named_with_the_ones_it_has(tmp_path):
    import mudata as md

    md.set_options(pull_on_update=False)

    rna, adt = counts_pair()
    md.MuData({"atac": rna, "rna": adt}).write(tmp_path / "data.h5mu")
    spec = {"format": "mudata", "path": str(tmp_path / "data.h5mu"), "inputs": "peaks", "targets": "rna"}
    with pytest.raises(InputError, match=r"data.h5mu: has no modality 'peaks'; modalities: atac, rna"):
        check_own_data("multi", spec)


def test_predictions_are_in_units_around_the_standardised_blend_and_scored_with_the_field_metrics(tmp_path):
    rng = np.random.default_rng(4)
    genes = [f"g{j}" for j in range(12)]
    cells = [f"t{i}" for i in range(20)]
    truth = (rng.normal(size=(20, 12)) * rng.uniform(0.5, 2, (20, 1)) + rng.normal(3, 1, (20, 1))).astype(np.float32)
    codec = TargetCodec(np.array(genes, dtype=object))  # exact targets: codes are the genes
    codec.save(tmp_path / "codec.npz", np.array(["a"]), np.ones(1))
    blend = 3 * truth + 5 + rng.normal(scale=0.1, size=truth.shape).astype(np.float32)
    fold_blends = [blend + rng.normal(scale=0.5, size=truth.shape).astype(np.float32) for _ in range(3)]
    with MatrixWriter(tmp_path / "blend.h5ad", genes) as w:  # the fold models' blends as layers, as ensemble writes
        w.append(blend, cells)
        for k, b in enumerate(fold_blends):
            w.append_layer(f"fold_{k}", b)
    (tmp_path / "weights.json").write_text('{"ridge": 1.0}')
    # The units rule's outputs: each cell's level and scale (here the truth's own) and the shrinkage a.
    levels = pd.DataFrame({"mean": truth.mean(1), "sd": truth.std(1), "split": "test"}, index=cells)
    levels.iloc[::-1].to_parquet(tmp_path / "levels.parquet")  # in another order than the blend's
    (tmp_path / "units.json").write_text('{"scale": "shrunk", "a": 0.9, "oof_rmse": {"full": 1.0, "shrunk": 0.9}}')
    write_predictions(str(tmp_path / "blend.h5ad"), str(tmp_path / "codec.npz"), str(tmp_path / "weights.json"),
                      str(tmp_path / "levels.parquet"), str(tmp_path / "units.json"), str(tmp_path / "pred.h5ad"),
                      config={"seed": 0}, chunk_rows=6)
    pred = ad.read_h5ad(tmp_path / "pred.h5ad")
    assert list(pred.obs_names) == cells and list(pred.var_names) == genes and pred.uns["weights"]["ridge"] == 1.0
    z = pred.layers["standardized"]
    np.testing.assert_allclose(z.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=1), 1, atol=1e-4)
    np.testing.assert_allclose(pred.X, truth.mean(1, keepdims=True) + 0.9 * truth.std(1, keepdims=True) * z, atol=1e-4)
    assert pred.uns["units"]["scale"] == "shrunk"
    # The folds' spread, in units: the sd of each fold blend put in units the same way.
    level = np.c_[truth.mean(1), truth.std(1)]
    in_units = [to_units(row_standardize(b), level, 0.9) for b in fold_blends]
    np.testing.assert_allclose(pred.layers["fold_sd"], np.std(in_units, axis=0, ddof=1), atol=1e-4)
    np.testing.assert_allclose(pred.obs["fold_sd_mean"], pred.layers["fold_sd"].mean(axis=1), rtol=1e-5)
    order = np.arange(20)[::-1]  # the truth file lists the test cells in another order
    with MatrixWriter(tmp_path / "truth.h5ad", genes) as w:
        w.append(truth[order], [cells[i] for i in order])
        w.set_obs(pd.DataFrame({"cell_type": np.where(order < 10, "T", "B")}))
    np.savez(tmp_path / "level_model.npz", target_mean=rng.normal(3, 1, (30, 12)).astype(np.float32).mean(0))
    write_matrix(tmp_path / "ridge.h5ad", truth[::-1] + rng.normal(size=truth.shape).astype(np.float32), cells[::-1],
                 genes)
    (tmp_path / "ridge.json").write_text('{"cv_pearson": 0.7}')
    files = ScoreFiles(str(tmp_path / "pred.h5ad"), str(tmp_path / "truth.h5ad"), str(tmp_path / "codec.npz"),
                       str(tmp_path / "level_model.npz"), str(tmp_path / "levels.parquet"),
                       str(tmp_path / "units.json"),
                       {"ridge": str(tmp_path / "ridge.h5ad")}, {"ridge": str(tmp_path / "ridge.json")})
    score = score_predictions({"cite": files}, chunk_rows=7)["cite"]
    assert score["n_cells"] == 20 and score["pearson"] > 0.99 and score["models"]["ridge"] < score["pearson"]
    assert set(score["by_cell_type"]) == {"T", "B"} and score["by_cell_type"]["T"]["n_cells"] == 10
    field = score["field_metrics"]
    assert set(field) == {"blend", "models", "baseline_mean_profile"} and set(field["models"]) == {"ridge"}
    assert field["blend"]["mean_pearson_per_cell"] == pytest.approx(score["pearson"])
    # In units, the blend's error is the shrunk standardised profile's: far below the mean profile's.
    assert field["blend"]["rmse"] < 0.5 * field["baseline_mean_profile"]["rmse"]
    assert field["models"]["ridge"]["rmse"] > field["blend"]["rmse"]
    assert score["fold_sd_vs_error"]["n_cells"] == 20 and -1 <= score["fold_sd_vs_error"]["spearman_per_cell"] <= 1


def test_sparse_matrices_store_a_64_bit_indptr(tmp_path):
    write_matrix(tmp_path / "s.h5ad", sp.random(5, 4, density=0.5, format="csr", dtype=np.float32),
                 list("abcde"), list("wxyz"))
    with h5py.File(tmp_path / "s.h5ad") as f:
        assert f["X/indptr"].dtype == np.int64 and f["X/indices"].dtype == np.int32


def test_obs_values_are_matched_as_numbers_labels_ordered_naturally_and_missing_ones_unknown(tmp_path):
    rna, adt = counts_pair()
    rna.obs["fold"] = np.where(np.arange(rna.n_obs) % 5 == 0, 1.0, np.nan)  # a float column, as NaN makes it
    rna.obs["day"] = np.where(np.arange(rna.n_obs) % 2 == 0, "d10", "d2")
    rna.obs["cell_type"] = pd.Series(np.where(np.arange(rna.n_obs) % 3 == 0, "T", None), index=rna.obs_names)
    rna.write_h5ad(tmp_path / "rna.h5ad")
    adt[::-1].copy().write_h5ad(tmp_path / "adt.h5ad")  # targets listed in another cell order
    spec = {"format": "anndata", "inputs": str(tmp_path / "rna.h5ad"), "targets": str(tmp_path / "adt.h5ad"),
            "test": {"column": "fold", "value": 1}, "obs": {"day": "day", "cell_type": "cell_type"}}
    cells = ingest_own_data("cite", spec, chunk_rows=9, **outputs(tmp_path))
    assert list(cells.index[cells["split"] == "test"]) == list(rna.obs_names[::5])
    assert cells.loc["cell001", "day"] == 0 and cells.loc["cell000", "day"] == 1  # d2 before d10
    assert set(cells["cell_type"]) == {"T", "unknown"}
    targets = MatrixFile(tmp_path / "targets.h5ad")
    np.testing.assert_allclose(targets.read(), adt[targets.obs_names].X)
    train = set(cells.index[cells["split"] == "train"])
    assert list(targets.obs_names) == [c for c in adt.obs_names[::-1] if c in train]


def test_mudata_obs_columns_may_live_in_the_files_global_obs(tmp_path):
    import mudata as md

    md.set_options(pull_on_update=False)
    rna, adt = counts_pair()
    split = rna.obs.pop("split")
    mdata = md.MuData({"atac": rna, "rna": adt})
    mdata.obs["split"] = split.reindex(mdata.obs_names).to_numpy()
    mdata.write(tmp_path / "data.h5mu")
    spec = {"format": "mudata", "path": str(tmp_path / "data.h5mu"), "inputs": "atac", "targets": "rna",
            "test": {"column": "split", "value": "test"}}
    assert check_own_data("multi", spec)["multi"]["n_test"] == int((split == "test").sum())
