"""openproblems predict_modality's scores, read in row chunks, equal the whole-matrix definitions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from msci.field_metrics import METRICS, predict_modality_metrics


def _reference(y: np.ndarray, p: np.ndarray) -> dict:
    """The definitions on whole matrices (scipy), a constant row or column scoring 0."""
    def corr(f, a, b):
        return 0.0 if a.std() == 0 or b.std() == 0 else float(f(a, b)[0])

    return {
        "rmse": float(np.sqrt(((y - p) ** 2).mean())), "mae": float(np.abs(y - p).mean()),
        "mean_pearson_per_cell": np.mean([corr(pearsonr, a, b) for a, b in zip(y, p, strict=True)]),
        "mean_spearman_per_cell": np.mean([corr(spearmanr, a, b) for a, b in zip(y, p, strict=True)]),
        "mean_pearson_per_gene": np.mean([corr(pearsonr, a, b) for a, b in zip(y.T, p.T, strict=True)]),
        "mean_spearman_per_gene": np.mean([corr(spearmanr, a, b) for a, b in zip(y.T, p.T, strict=True)]),
        "overall_pearson": corr(pearsonr, y.ravel(), p.ravel()),
        "overall_spearman": corr(spearmanr, y.ravel(), p.ravel()),
    }


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.poisson(1.5, size=(53, 17)).astype(np.float32)  # many ties, as counts have
    p = (y + rng.normal(scale=1.0, size=y.shape)).astype(np.float32)
    y[4] = 2.0  # a constant cell
    p[:, 3] = 0.1  # a constant predicted gene (0.1: its variance from sums is rounding noise, not 0)
    return y, p


def _pairs(y: np.ndarray, p: np.ndarray, chunk: int):
    return lambda: ((y[i:i + chunk], p[i:i + chunk]) for i in range(0, len(y), chunk))


@pytest.mark.parametrize("chunk", [1, 10, 53])
def test_chunked_scores_equal_the_whole_matrix_definitions(chunk):
    y, p = _data()
    got = predict_modality_metrics(_pairs(y, p, chunk), *y.shape)
    want = _reference(y.astype(np.float64), p.astype(np.float64))
    assert set(METRICS) <= set(got) and got["overall_spearman_ranks"] == "exact"
    for key in METRICS:
        assert got[key] == pytest.approx(want[key], abs=1e-9), key


def test_a_small_memory_bound_reads_genes_in_blocks_and_rounds_overall_ranks():
    y, p = _data(1)
    exact = predict_modality_metrics(_pairs(y, p, 7), *y.shape)
    small = predict_modality_metrics(_pairs(y, p, 7), *y.shape, max_values=150)
    assert small["overall_spearman_ranks"] == "float16-rounded"
    assert small["mean_spearman_per_gene"] == pytest.approx(exact["mean_spearman_per_gene"], abs=1e-12)
    assert small["overall_spearman"] == pytest.approx(exact["overall_spearman"], abs=0.01)
    assert small["overall_spearman"] != exact["overall_spearman"]


def test_a_perfect_prediction_scores_one_and_no_error():
    y, _ = _data(2)
    y[4] = np.arange(y.shape[1])  # no constant cell this time
    got = predict_modality_metrics(_pairs(y, y.copy(), 9), *y.shape)
    assert got["rmse"] == 0 and got["mae"] == 0
    assert got["overall_pearson"] == pytest.approx(1) and got["mean_spearman_per_cell"] == pytest.approx(1)


def test_fewer_cells_than_announced_is_refused():
    y, p = _data()
    with pytest.raises(ValueError, match="52 cells read, 53 expected"):
        predict_modality_metrics(_pairs(y[:52], p[:52], 10), *y.shape)
