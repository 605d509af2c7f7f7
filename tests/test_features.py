import numpy as np
import pandas as pd
import scipy.sparse as sp

from msci.features.genes import genes_features, match_protein_genes
from msci.features.qc import qc_table
from msci.features.svd_chrom import chromosome_groups, svd_chrom_features
from msci.io.matrix import MatrixFile, write_matrix
from msci.simulate import ISOTYPES


def test_gene_matching_picks_names_aliases_and_extras_but_not_isotypes():
    genes = ["ENSG1_CD86", "ENSG2_CD3E", "ENSG3_CD3D", "ENSG4_HLA-A", "ENSG5_HLA-C", "ENSG6_ACTB", "ENSG7_NCAM1",
             "ENSG8_MT-CO1", "ENSG9_GATA1"]
    proteins = ["CD86", "CD3", "HLA-A-B-C", "CD56", "CD999", "Mouse-IgG1", "Rat-IgG2b"]
    cols, report = match_protein_genes(genes, proteins, extra_genes=["GATA1", "NOPE"])
    assert cols == ["ENSG1_CD86", "ENSG2_CD3E", "ENSG3_CD3D", "ENSG4_HLA-A", "ENSG5_HLA-C", "ENSG7_NCAM1",
                    "ENSG9_GATA1"]
    assert report["matches"]["HLA-A-B-C"] == ["ENSG4_HLA-A", "ENSG5_HLA-C"]
    assert report["isotype_controls"] == ["Mouse-IgG1", "Rat-IgG2b"]
    assert report["unmatched_proteins"] == ["CD999"] and report["extra_genes_missing"] == ["NOPE"]


def test_every_simulated_protein_finds_its_genes(tiny_data):
    data, _ = tiny_data
    genes = pd.read_hdf(data / "train_cite_inputs.h5").columns
    proteins = pd.read_hdf(data / "train_cite_targets.h5").columns
    _, report = match_protein_genes(list(genes), list(proteins))
    assert report["unmatched_proteins"] == []
    assert set(report["isotype_controls"]) == set(proteins) & set(ISOTYPES)


def test_genes_table_holds_the_raw_values_of_the_matched_columns(tmp_path):
    rng = np.random.default_rng(0)
    X = sp.random(40, 4, density=0.5, format="csr", random_state=0, dtype=np.float32)
    write_matrix(tmp_path / "x.h5ad", X, [f"c{i}" for i in range(40)], ["E1_CD4", "E2_ACTB", "E3_ITGAX", "E4_GAPDH"])
    write_matrix(tmp_path / "y.h5ad", rng.normal(size=(30, 2)).astype(np.float32), [f"c{i}" for i in range(30)],
                 ["CD4", "CD11c"])
    report = genes_features(str(tmp_path / "x.h5ad"), str(tmp_path / "y.h5ad"), str(tmp_path / "g.parquet"),
                            extra_genes=[], chunk_rows=7)
    df = pd.read_parquet(tmp_path / "g.parquet")
    assert list(df.columns) == ["gene_E1_CD4", "gene_E3_ITGAX"] and report["n_matched_proteins"] == 2
    np.testing.assert_array_equal(df.to_numpy(), X.toarray()[:, [0, 2]])


def test_qc_sums_equal_a_direct_computation(tmp_path):
    rng = np.random.default_rng(1)
    X = (rng.random((25, 6)) < 0.5) * rng.random((25, 6)).astype(np.float32)
    cols = ["E1_MT-CO1", "E2_ACTB", "E3_MT-ND1", "E4_CD4", "E5_GAPDH", "E6_SMT-X"]
    write_matrix(tmp_path / "x.h5ad", sp.csr_matrix(X), [f"c{i}" for i in range(25)], cols)
    qc = qc_table(MatrixFile(tmp_path / "x.h5ad"), chunk_rows=4)
    np.testing.assert_allclose(qc["qc_mt_sum"], X[:, [0, 2]].sum(1), rtol=1e-6)
    np.testing.assert_allclose(qc["qc_total"], X.sum(1), rtol=1e-6)
    np.testing.assert_array_equal(qc["qc_n_detected"], (X != 0).sum(1))
    total = X.sum(1)
    expected = np.divide(X[:, [0, 2]].sum(1), total, out=np.zeros_like(total), where=total > 0)
    np.testing.assert_allclose(qc["qc_mt_fraction"], expected, rtol=1e-5)


def test_peaks_group_by_chromosome_whichever_separator_names_them():
    peaks = ["chr1:10-20", "chr1-30-40", "chr2_50_60", "chrX:1-2", "chr10:5-9", "GL000194.1:1-2", "KI270711.1-5-6"]
    groups = {k: list(v) for k, v in chromosome_groups(peaks).items()}
    assert groups == {"chr1": [0, 1], "chr2": [2], "chrX": [3], "chr10": [4], "contigs": [5, 6]}


def test_svd_per_chromosome_reduces_each_group_and_keeps_contigs_raw(tmp_path):
    rng = np.random.default_rng(2)
    n = 120
    # chr1 and chr2 each carry their own rank-2 signal; a contig has 3 peaks.
    chr1 = rng.normal(size=(n, 2)) @ rng.normal(size=(2, 30))
    chr2 = rng.normal(size=(n, 2)) @ rng.normal(size=(2, 20))
    contig = rng.random((n, 3))
    X = np.hstack([chr1[:, :15], chr2, chr1[:, 15:], contig]).astype(np.float32)  # chromosomes interleaved
    peaks = ([f"chr1:{i}-{i + 1}" for i in range(15)] + [f"chr2:{i}-{i + 1}" for i in range(20)]
             + [f"chr1:{i}-{i + 1}" for i in range(100, 115)] + ["GL000194.1:1-2", "KI270711.1:1-2", "KI270711.1:5-6"])
    assert {k: len(v) for k, v in chromosome_groups(peaks).items()} == {"chr1": 30, "chr2": 20, "contigs": 3}
    write_matrix(tmp_path / "x.h5ad", sp.csr_matrix(X), [f"c{i}" for i in range(n)], peaks)
    df = svd_chrom_features(str(tmp_path / "x.h5ad"), str(tmp_path / "s.parquet"), n_components=2,
                            per_chromosome={"chr1": 3}, chunk_rows=17)
    assert [c for c in df.columns if c.startswith("chr1")] == ["chr1_svd_0", "chr1_svd_1", "chr1_svd_2"]
    assert [c for c in df.columns if c.startswith("chr2")] == ["chr2_svd_0", "chr2_svd_1"]
    np.testing.assert_array_equal(df[["peak_GL000194.1:1-2", "peak_KI270711.1:1-2", "peak_KI270711.1:5-6"]],
                                  contig.astype(np.float32))
    # chr2's two components span chr2's signal exactly (rank 2).
    z = df[["chr2_svd_0", "chr2_svd_1"]].to_numpy(np.float64)
    proj = z @ np.linalg.lstsq(z, chr2, rcond=None)[0]
    assert np.linalg.norm(chr2 - proj) / np.linalg.norm(chr2) < 1e-4
    assert df[["chr1_svd_2"]].abs().max().iloc[0] < 1e-3 * df["chr1_svd_0"].abs().max()  # chr1 has rank 2


def test_ivis_embedding_has_the_requested_size_repeats_with_a_seed_and_reloads(tmp_path):
    from msci.features.ivis import IvisTransform, fit_ivis

    rng = np.random.default_rng(0)
    centers = rng.normal(scale=4, size=(3, 10))
    X = np.repeat(centers, 60, axis=0) + rng.normal(size=(180, 10))
    params = {"embedding_dims": 3, "k": 5, "epochs": 3, "batch_size": 32, "patience": 5, "scale": True, "seed": 1}
    fitted = fit_ivis(X, **params)
    a, b = fitted.transform(X), fit_ivis(X, **params).transform(X)
    assert a.shape == (180, 3) and np.isfinite(a).all()
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    fitted.save(str(tmp_path / "ivis"))
    np.testing.assert_allclose(IvisTransform.load(str(tmp_path / "ivis")).transform(X[:7]), a[:7], atol=1e-6)


def test_svd_per_chromosome_fit_on_some_rows_projects_all_rows(tmp_path):
    rng = np.random.default_rng(5)
    X = (rng.normal(size=(90, 2)) @ rng.normal(size=(2, 20))).astype(np.float32)
    peaks = [f"chr1:{i}-{i + 1}" for i in range(10)] + [f"chr2:{i}-{i + 1}" for i in range(10)]
    write_matrix(tmp_path / "x.h5ad", sp.csr_matrix(X), [f"c{i}" for i in range(90)], peaks)
    mask = np.arange(90) % 3 != 0
    full = svd_chrom_features(str(tmp_path / "x.h5ad"), str(tmp_path / "a.parquet"), n_components=2, per_chromosome={},
                              chunk_rows=16)
    part = svd_chrom_features(str(tmp_path / "x.h5ad"), str(tmp_path / "b.parquet"), n_components=2, per_chromosome={},
                              chunk_rows=16, fit_mask=mask)
    assert part.shape == full.shape == (90, 4)
    # Exact rank 2 per chromosome: a fit on a subset spans the same space, so every row's projection is a
    # fixed linear map of its projection from the fit on all rows (held-out rows included).
    for chrom in ("chr1", "chr2"):
        a = full[[f"{chrom}_svd_0", f"{chrom}_svd_1"]].to_numpy(np.float64)
        b = part[[f"{chrom}_svd_0", f"{chrom}_svd_1"]].to_numpy(np.float64)
        coef = np.linalg.lstsq(a[mask], b[mask], rcond=None)[0]
        np.testing.assert_allclose(a[~mask] @ coef, b[~mask], rtol=1e-3, atol=1e-3)
