"""The batch families: per-day centred tables (2nd place's batch correction) and metadata features (day, donor)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_snakemake

from msci.features.batch import centred_features, centred_table, metadata_features
from msci.io.checks import InputError
from msci.reference import Reference


def _shifted(n=300, seed=0):
    """A feature table whose every column a day shifts, and the cells table (train and test cells on each day)."""
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"c{i}" for i in range(n)], name="cell_id")
    day = np.arange(n) % 3 + 2
    signal = rng.normal(size=(n, 4))
    table = pd.DataFrame(signal + 5.0 * day[:, None], index=ids, columns=[f"svd_{j}" for j in range(4)])
    cells = pd.DataFrame({"split": np.where(np.arange(n) % 5 == 0, "test", "train"), "day": day,
                          "donor": np.where(np.arange(n) % 2 == 0, 13176, 31800)}, index=ids)
    return table, cells, signal


def test_centring_removes_each_days_shift_and_keeps_the_differences_within_a_day():
    table, cells, signal = _shifted()
    out = centred_table(table, cells[["day"]])
    assert list(out.columns) == [f"centred_svd_{j}" for j in range(4)]
    medians = out.groupby(cells["day"].to_numpy()).median()
    np.testing.assert_allclose(medians.to_numpy(), 0, atol=1e-5)
    # Within a day, the cells keep their differences; across days, the shift is gone.
    for d in (2, 3, 4):
        on = (cells["day"] == d).to_numpy()
        np.testing.assert_allclose(out[on].to_numpy() - out[on].to_numpy()[0], signal[on] - signal[on][0], atol=1e-4)
    assert abs(np.corrcoef(out.iloc[:, 0], cells["day"])[0, 1]) < 0.2 < abs(np.corrcoef(table.iloc[:, 0],
                                                                                         cells["day"])[0, 1])
    by_batch = centred_table(table, cells[["day", "donor"]], statistic="mean")
    np.testing.assert_allclose(by_batch.groupby([cells["day"], cells["donor"]]).mean().to_numpy(), 0, atol=1e-5)


def test_centred_family_writes_its_table_and_names_the_cells_file_when_a_column_is_missing(tmp_path):
    table, cells, _ = _shifted(n=60)
    table.to_parquet(tmp_path / "svd.parquet")
    cells.to_parquet(tmp_path / "cells.parquet")
    svd, where, bad = tmp_path / "svd.parquet", tmp_path / "cells.parquet", tmp_path / "bad.parquet"
    out = centred_features(svd, where, tmp_path / "centred.parquet", ["day"], "median")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "centred.parquet"), out)
    with pytest.raises(InputError, match=r"cells.parquet: no column 'batch' for features.centred.by"):
        centred_features(svd, where, bad, ["batch"], "median")
    cells.iloc[5:].to_parquet(tmp_path / "cells.parquet")
    with pytest.raises(InputError, match="5 cell"):
        centred_features(svd, where, bad, ["day"], "median")
    assert not bad.exists()


def test_metadata_gives_the_day_as_a_number_and_each_donor_one_hot(tmp_path):
    _, cells, _ = _shifted(n=10)
    cells.to_parquet(tmp_path / "cells.parquet")
    out = metadata_features(tmp_path / "cells.parquet", tmp_path / "meta.parquet", ["day"], ["donor"])
    assert list(out.columns) == ["meta_day", "meta_donor_13176", "meta_donor_31800"]
    np.testing.assert_array_equal(out["meta_day"], cells["day"])
    np.testing.assert_array_equal(out["meta_donor_13176"], (cells["donor"] == 13176).astype(float))
    with pytest.raises(InputError, match="cells.parquet: features.metadata.numeric"):
        metadata_features(tmp_path / "cells.parquet", tmp_path / "bad.parquet", ["split"], [])
    assert not (tmp_path / "bad.parquet").exists()


def test_a_run_blending_a_batch_family_builds_it_and_its_reference_refuses_queries(tmp_path):
    config = {"modalities": ["cite"], "models": {"ridge_day": {"type": "ridge", "modalities": ["cite"],
                                                              "features": ["centred", "metadata"]}}}
    (tmp_path / "batch.yaml").write_text(yaml.safe_dump(config))
    proc = run_snakemake(tmp_path, "--configfile", str(tmp_path / "batch.yaml"), "-n")
    assert "features_centred" in proc.stdout and "features_metadata" in proc.stdout
    # The reference names the batch families' users; loading it for a query says why it cannot.
    (tmp_path / "reference.json").write_text(json.dumps({"not_queryable": {"ridge_day": ["centred", "metadata"]}}))
    with pytest.raises(ValueError, match="ridge_day uses centred, metadata: features built from each cell's batch"):
        Reference(tmp_path)
