"""A query's features put into the reference's columns: genes by name, peaks by name in any style or by overlap."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from msci.feature_match import match_features, parse_peaks
from msci.io.checks import InputError


def test_shuffled_genes_with_missing_and_extra_ones_land_in_the_reference_columns():
    rng = np.random.default_rng(0)
    reference = np.array([f"G{i}" for i in range(100)])
    kept = rng.permutation(100)[:90]  # 10 % of the reference's genes missing, the rest shuffled
    query = np.r_[reference[kept], ["NOVEL1", "NOVEL2", "NOVEL3"]]
    X = rng.poisson(2.0, size=(7, len(query))).astype(np.float32)
    match = match_features(reference, query, min_share=0.5)
    assert match.summary() == {"n_reference": 100, "n_query": 93, "n_matched": 90, "n_missing": 10, "n_extra": 3,
                               "matched_by": "name", "n_matched_by_interval": 0}
    out = match.apply(X)
    expected = np.zeros((7, 100), np.float32)
    expected[:, kept] = X[:, :90]
    assert out.dtype == np.float32 and np.array_equal(out, expected)
    sparse = match.apply(sp.csr_matrix(X))
    assert sp.issparse(sparse) and np.array_equal(sparse.toarray(), expected)


def test_peaks_written_in_another_style_match_by_name():
    reference = ["chr1:100-200", "chr1:300-400", "chr2:50-90"]
    query = ["chr2_50_90", "chr1-300-400", "chr1-100-200"]
    match = match_features(reference, query, min_share=0.5)
    assert match.n_matched == 3 and match.n_by_interval == 0
    assert np.array_equal(match.apply(np.array([[1.0, 2.0, 3.0]])), [[3.0, 2.0, 1.0]])


def test_peaks_called_elsewhere_add_their_counts_to_the_reference_peak_they_overlap_most():
    reference = ["chr1:100-200", "chr1:300-400", "chr1:1000-5000", "chr2:50-90", "chr3:10-20"]
    query = ["chr1:150-210",   # inside the first reference peak (and touching nothing else)
             "chr1:190-310",   # 10 bp into the first and 10 into the second: a tie, which the first wins
             "chr1:395-1100",  # 5 bp into the second, 100 bp into the third → the third
             "chr1:2000-2100",  # inside the long third peak
             "chr2:50-90",     # the same interval: by name
             "chr9:1-10"]      # no reference peak on chr9: extra
    X = np.array([[1.0, 10.0, 100.0, 1000.0, 5.0, 7.0]])
    match = match_features(reference, query, min_share=0.5)
    out = match.apply(X)[0]
    assert out[2] == 1100.0 and out[3] == 5.0 and out[4] == 0.0
    assert out[0] == 11.0 and out[1] == 0.0
    assert match.n_extra == 1 and match.n_by_interval == 4 and match.by == "name+interval"


def test_a_query_matching_too_few_features_stops_with_one_line_naming_it():
    with pytest.raises(InputError) as err:
        match_features([f"G{i}" for i in range(10)], ["A", "B", "G1"], min_share=0.5, source="new.h5ad")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("new.h5ad: only 1 of the reference's 10 features (10%)")


def test_duplicate_query_features_are_refused_naming_one():
    with pytest.raises(InputError, match="new.h5ad: feature 'A' appears more than once"):
        match_features(["A", "B"], ["A", "A"], min_share=0.5, source="new.h5ad")


def test_names_that_are_not_all_peaks_are_not_parsed_as_peaks():
    assert parse_peaks(["chr1:1-2", "CD3E"]) is None
    assert parse_peaks(["chrX-5-9"]).to_dict("list") == {"chrom": ["chrX"], "start": [5], "end": [9]}


def test_a_query_peak_goes_to_the_reference_peak_it_overlaps_most_even_one_matched_by_name():
    reference = ["chr1:100-200", "chr1:190-300"]
    query = ["chr1:100-200", "chr1:120-195"]  # the second: 75 bp into the first reference peak, 5 into the second
    out = match_features(reference, query, min_share=0.5).apply(np.array([[1.0, 10.0]]))
    assert np.array_equal(out, [[11.0, 0.0]])


def test_contigs_with_separators_in_their_names_are_peaks_too():
    peaks = parse_peaks(["chr1:1-2", "chrUn_KI270742v1:5-9", "chr1_KI270706v1_random-10-20"])
    assert list(peaks["chrom"]) == ["chr1", "chrUn_KI270742v1", "chr1_KI270706v1_random"]
    match = match_features(["chrUn_KI270742v1:5-9", "chr2:1-50"], ["chrUn_KI270742v1-5-9", "chr2_10_40"], min_share=1)
    assert match.n_matched == 2 and match.n_by_interval == 1
