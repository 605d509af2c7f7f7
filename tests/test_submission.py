import numpy as np
import pandas as pd
import pytest

from msci.io.checks import InputError
from msci.io.matrix import MatrixFile, write_matrix
from msci.submission import build_submission, score_submission
from msci.target_codes import encode_targets, load_codec


def _truth_as_predictions(hidden, tmp_path, modality, noise=0.0, seed=0):
    y = pd.read_hdf(hidden / f"test_{modality}_targets.h5")
    rng = np.random.default_rng(seed)
    values = y.to_numpy() + noise * rng.normal(size=y.shape)
    path = tmp_path / f"{modality}.h5ad"
    write_matrix(path, values.astype(np.float32), y.index, y.columns)
    return str(path), y


def test_submission_follows_evaluation_ids_and_perfect_predictions_score_one(tiny_data, tmp_path):
    data, hidden = tiny_data
    # Truth plus a little noise: a cell predicted exactly constant (as some truths are) would be refused.
    preds = {m: _truth_as_predictions(hidden, tmp_path, m, noise=1e-5)[0] for m in ("cite", "multi")}
    n = build_submission(str(data / "evaluation_ids.csv"), preds, str(tmp_path / "sub.csv"), chunk_rows=997)
    sub = pd.read_csv(tmp_path / "sub.csv")
    ev = pd.read_csv(data / "evaluation_ids.csv")
    assert n == len(ev) == len(sub) and list(sub.columns) == ["row_id", "target"]
    assert (sub["row_id"].to_numpy() == ev["row_id"].to_numpy()).all() and sub["target"].notna().all()
    # Spot-check the mapping against a direct lookup.
    y = pd.read_hdf(hidden / "test_multi_targets.h5")
    row = ev.iloc[-1]
    assert np.isclose(sub["target"].iloc[-1], y.loc[row["cell_id"], row["gene_id"]], atol=1e-4)
    score = score_submission(str(tmp_path / "sub.csv"), str(data / "evaluation_ids.csv"),
                             {m: str(hidden / f"test_{m}_targets.h5") for m in ("cite", "multi")},
                             str(data / "metadata.csv"))
    for key in ("cite", "multi", "overall"):
        assert set(score[key]) == {"public", "private"}
    assert np.isclose(score["cite"]["public"], 1.0, atol=1e-6) and np.isclose(score["cite"]["private"], 1.0, atol=1e-6)
    # A cell whose scored truth is constant has no correlation and counts 0; every other cell scores 1.
    multi = ev[ev["cell_id"].isin(y.index)]
    truth = pd.Series(y.to_numpy()[y.index.get_indexer(multi["cell_id"]), y.columns.get_indexer(multi["gene_id"])])
    varies = truth.groupby(multi["cell_id"].to_numpy()).std() > 0
    meta = pd.read_csv(data / "metadata.csv").set_index("cell_id")
    private = meta.loc[varies.index, "day"] == 10
    assert np.isclose(score["multi"]["private"], varies[private].mean(), atol=1e-6)
    assert np.isclose(score["multi"]["public"], varies[~private].mean(), atol=1e-6)


def test_score_is_the_mean_of_per_cell_pearson_over_scored_rows(tiny_data, tmp_path):
    data, hidden = tiny_data
    path, y = _truth_as_predictions(hidden, tmp_path, "cite", noise=1.0)
    build_submission(str(data / "evaluation_ids.csv"), {"cite": path}, str(tmp_path / "sub.csv"), require_all=False)
    score = score_submission(str(tmp_path / "sub.csv"), str(data / "evaluation_ids.csv"),
                             {"cite": str(hidden / "test_cite_targets.h5")}, str(data / "metadata.csv"))
    pred = pd.read_csv(tmp_path / "sub.csv")["target"].to_numpy().reshape(y.shape)
    r = np.array([np.corrcoef(y.to_numpy()[i], pred[i])[0, 1] for i in range(len(y))])
    meta = pd.read_csv(data / "metadata.csv").set_index("cell_id")
    private = meta.loc[y.index, "day"].to_numpy() == 7
    assert np.isclose(score["cite"]["private"], r[private].mean())
    assert np.isclose(score["cite"]["public"], r[~private].mean())
    assert set(score) == {"cite", "overall"}


def test_single_modality_submission_covers_only_its_rows(tiny_data, tmp_path):
    data, hidden = tiny_data
    path, y = _truth_as_predictions(hidden, tmp_path, "cite")
    n = build_submission(str(data / "evaluation_ids.csv"), {"cite": path}, str(tmp_path / "sub.csv"), require_all=False)
    assert n == y.size


def test_prediction_missing_a_target_is_a_clear_error_and_no_file(tiny_data, tmp_path):
    data, hidden = tiny_data
    y = pd.read_hdf(hidden / "test_cite_targets.h5")
    write_matrix(tmp_path / "p.h5ad", y.to_numpy()[:, 1:], y.index, y.columns[1:])
    with pytest.raises(InputError, match="is not predicted"):
        build_submission(str(data / "evaluation_ids.csv"), {"cite": str(tmp_path / "p.h5ad")},
                         str(tmp_path / "sub.csv"), require_all=False)
    assert not (tmp_path / "sub.csv").exists()


def test_submission_decodes_target_codes_for_the_cells_each_block_names(tiny_data, tmp_path):
    data, hidden = tiny_data
    y = pd.read_hdf(hidden / "test_multi_targets.h5")
    write_matrix(tmp_path / "y.h5ad", y.to_numpy(), y.index, y.columns)
    encode_targets(str(tmp_path / "y.h5ad"), str(tmp_path / "codes.h5ad"), str(tmp_path / "codec.npz"),
                   method="svd", n_components=8)
    codec, _, _ = load_codec(tmp_path / "codec.npz")
    codes = MatrixFile(tmp_path / "codes.h5ad").read()
    genes = pd.DataFrame(codec.decode(codes), index=y.index, columns=y.columns)
    n = build_submission(str(data / "evaluation_ids.csv"), {"multi": str(tmp_path / "codes.h5ad")},
                         str(tmp_path / "sub.csv"), require_all=False, chunk_rows=100,
                         codecs={"multi": str(tmp_path / "codec.npz")})
    ev = pd.read_csv(data / "evaluation_ids.csv")
    ev = ev[ev["cell_id"].isin(y.index)]
    sub = pd.read_csv(tmp_path / "sub.csv")
    assert n == len(ev) == len(sub) and (sub["row_id"].to_numpy() == ev["row_id"].to_numpy()).all()
    expected = genes.to_numpy()[genes.index.get_indexer(ev["cell_id"]), genes.columns.get_indexer(ev["gene_id"])]
    np.testing.assert_allclose(sub["target"].to_numpy(), expected, rtol=1e-4, atol=1e-5)


def test_rows_no_modality_predicts_are_an_error_when_every_modality_is_configured(tiny_data, tmp_path):
    data, hidden = tiny_data
    path, y = _truth_as_predictions(hidden, tmp_path, "cite")
    with pytest.raises(InputError, match=r"evaluation_ids.csv: \d+ row\(s\) name cells that no modality predicts"):
        build_submission(str(data / "evaluation_ids.csv"), {"cite": path}, str(tmp_path / "sub.csv"))
    assert not (tmp_path / "sub.csv").exists()


def test_a_cell_predicted_constant_on_its_scored_rows_is_refused(tiny_data, tmp_path):
    data, hidden = tiny_data
    y = pd.read_hdf(hidden / "test_cite_targets.h5")
    values = y.to_numpy().copy()
    values[7] = 1.0
    write_matrix(tmp_path / "p.h5ad", values, y.index, y.columns)
    with pytest.raises(ValueError, match=f"cell {y.index[7]} has the same predicted value on all 16"):
        build_submission(str(data / "evaluation_ids.csv"), {"cite": str(tmp_path / "p.h5ad")},
                         str(tmp_path / "sub.csv"), require_all=False)
    assert not (tmp_path / "sub.csv").exists()


def test_external_blend_refuses_a_cell_whose_rows_are_not_contiguous(tiny_data, tmp_path):
    data, hidden = tiny_data
    path, y = _truth_as_predictions(hidden, tmp_path, "cite")
    ev = pd.read_csv(data / "evaluation_ids.csv")
    ev = ev[ev["cell_id"].isin(y.index)].reset_index(drop=True)
    ev.iloc[[1, 40]] = ev.iloc[[40, 1]].to_numpy()  # cell 0's second row moved into cell 2's rows
    ev["row_id"] = np.arange(len(ev))
    ev.to_csv(tmp_path / "ev.csv", index=False)
    pd.DataFrame({"row_id": ev["row_id"], "target": 1.0 + np.arange(len(ev)) % 3}).to_csv(tmp_path / "ext.csv",
                                                                                          index=False)
    with pytest.raises(InputError, match=f"rows of cell {ev['cell_id'][0]} are not contiguous"):
        build_submission(str(tmp_path / "ev.csv"), {"cite": path}, str(tmp_path / "sub.csv"), require_all=False,
                         external=[{"path": str(tmp_path / "ext.csv"), "weight": 1.0}])
    assert not (tmp_path / "sub.csv").exists()
