import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from msci.simulate import CELL_TYPES, CONTIGS, ISOTYPES, SPLITS, TEST_DONOR, TRAIN_DONORS


def _read(data, name):
    return pd.read_hdf(data / f"{name}.h5")


def test_simulated_files_follow_the_competition_contract(tiny_data):
    data, hidden = tiny_data
    meta = pd.read_csv(data / "metadata.csv")
    assert list(meta.columns) == ["cell_id", "day", "donor", "cell_type", "technology"]
    assert meta["cell_id"].is_unique
    for m, tech in (("cite", "citeseq"), ("multi", "multiome")):
        tr, te = _read(data, f"train_{m}_inputs"), _read(data, f"test_{m}_inputs")
        cells = meta.set_index("cell_id").loc[tr.index]
        assert set(cells["day"]) == set(SPLITS[m]["train"]) and set(cells["donor"]) == set(TRAIN_DONORS)
        assert set(cells["cell_type"]) == set(CELL_TYPES) and (cells["technology"] == tech).all()
        test_cells = meta.set_index("cell_id").loc[te.index]
        assert (test_cells["cell_type"] == "hidden").all()
        private = test_cells["day"] == SPLITS[m]["private"]
        assert SPLITS[m]["private"] > max(SPLITS[m]["train"])
        assert (test_cells.loc[~private, "donor"] == TEST_DONOR).all() and private.any()
        assert list(_read(data, f"train_{m}_targets").index) == list(tr.index)
        assert (tr.to_numpy() >= 0).all() and (tr.to_numpy() == 0).mean() > 0.3  # sparse counts
        assert tr.dtypes.unique().tolist() == [np.float32]


def test_cite_has_mitochondrial_genes_isotypes_and_protein_genes_that_correlate(tiny_data):
    data, _ = tiny_data
    x, y = _read(data, "train_cite_inputs"), _read(data, "train_cite_targets")
    assert sum("_MT-" in c for c in x.columns) >= 10
    assert all(c.startswith("ENSG") for c in x.columns)
    assert set(ISOTYPES) & set(y.columns)
    assert (y.to_numpy() < 0).any()  # dsb-like, can be negative
    symbol = {c.split("_", 1)[1]: c for c in x.columns}
    r = [np.corrcoef(x[symbol[g]], y[p])[0, 1] for p, g in (("CD86", "CD86"), ("CD8", "CD8A"), ("CD19", "CD19"))
         if p in y and g in symbol]
    assert r and np.mean(r) > 0.3


def test_multiome_peaks_cover_chromosomes_and_contigs(tiny_data):
    data, _ = tiny_data
    peaks = _read(data, "train_multi_inputs").columns
    chroms = {p.split(":")[0] for p in peaks}
    assert {f"chr{i}" for i in range(1, 23)} | {"chrX", "chrY"} <= chroms
    assert chroms & set(CONTIGS)
    assert all(p.split(":")[1].count("-") == 1 for p in peaks)
    genes = _read(data, "train_multi_targets").columns
    assert all(g.startswith("ENSG") and "_" not in g for g in genes)


def test_evaluation_ids_list_cite_block_then_a_multiome_subset(tiny_data):
    data, _ = tiny_data
    ev = pd.read_csv(data / "evaluation_ids.csv")
    assert (ev["row_id"] == np.arange(len(ev))).all()
    te_cite, y_cite = _read(data, "test_cite_inputs"), _read(data, "train_cite_targets")
    n_cite = len(te_cite) * y_cite.shape[1]
    cite = ev.iloc[:n_cite]
    assert list(cite["cell_id"][:: y_cite.shape[1]]) == list(te_cite.index)
    assert list(cite["gene_id"][: y_cite.shape[1]]) == list(y_cite.columns)
    multi = ev.iloc[n_cite:]
    n_cells, n_genes = multi["cell_id"].nunique(), _read(data, "train_multi_targets").shape[1]
    assert abs(n_cells - 0.3 * len(_read(data, "test_multi_inputs"))) <= 1
    per_cell = multi.groupby("cell_id")["gene_id"].agg(["size", "nunique"])
    assert (per_cell["size"] == round(0.15 * n_genes)).all() and (per_cell["nunique"] == per_cell["size"]).all()
    assert multi.groupby("cell_id")["gene_id"].apply(frozenset).nunique() > 1  # a different gene set per cell
    sub = pd.read_csv(data / "sample_submission.csv")
    assert list(sub.columns) == ["row_id", "target"] and len(sub) == len(ev)


def test_private_day_cells_are_shifted_from_training_cells(tiny_data):
    data, _ = tiny_data
    meta = pd.read_csv(data / "metadata.csv").set_index("cell_id")
    tr, te = _read(data, "train_cite_inputs"), _read(data, "test_cite_inputs")
    private = te[meta.loc[te.index, "day"].to_numpy() == SPLITS["cite"]["private"]]
    X = np.vstack([tr.to_numpy(), private.to_numpy()])
    y = np.r_[np.zeros(len(tr)), np.ones(len(private))]
    p = cross_val_predict(LogisticRegression(C=0.1, max_iter=500), X, y, cv=3, method="predict_proba")[:, 1]
    assert roc_auc_score(y, p) > 0.7


def test_oracle_predicts_the_hidden_test_cells_better_than_the_mean_profile(tiny_data):
    from conftest import tiny_config

    from msci.metrics import row_pearson
    from msci.simulate import simulated_truth

    _, hidden = tiny_data
    truths = simulated_truth(tiny_config(), draws=8)
    for m, t in truths.items():
        truth = _read(hidden, f"test_{m}_targets")
        test = (t.cells["split"] == "test").to_numpy()
        assert list(t.cells["cell_id"][test]) == list(truth.index)  # the files' test cells, their draws unchanged
        np.testing.assert_array_equal(t.targets[test], truth.to_numpy())
        assert t.expected.shape == t.targets.shape and len(t.state) == len(t.cells)
        y = t.targets[test]
        mean_profile = row_pearson(y, np.broadcast_to(y.mean(0), y.shape)).mean()
        assert row_pearson(y, t.expected[test]).mean() > mean_profile + 0.02
    cite = truths["cite"]
    residual = (cite.targets - cite.expected).std()
    assert 0.2 < residual < 0.35  # only the proteins' and isotypes' measurement noise is left


def test_same_seed_draws_the_same_data_as_before(tiny_data):
    """Pins the tiny set's draws: a change to the simulator that moves them shows here (then every cached demo,
    bench set and figure measured on simulated data moves too)."""
    data, hidden = tiny_data
    pinned = {(data, "train_cite_targets"): (7478.464763493219, [0.29792511, 5.69329596, 0.90582347]),
              (data, "train_cite_inputs"): (60159.54463028908, [0.0, 0.0, 5.16717529]),
              (data, "train_multi_targets"): (24266.31709909439, [0.0, 5.50085974, 5.50085974]),
              (hidden, "test_multi_targets"): (11182.743131160736, [0.0, 5.65848637, 7.04216146])}
    for (folder, name), (total, first) in pinned.items():
        a = _read(folder, name).to_numpy(np.float64)
        np.testing.assert_allclose(a.sum(), total, rtol=1e-6, err_msg=name)
        np.testing.assert_allclose(a[0, :3], first, rtol=1e-6, atol=1e-7, err_msg=name)
