"""Rule folds: assign training cells to cross-validation folds (whole batches held out, or stratified on good
validation)."""

import pandas as pd

from msci.io.artifacts import write_parquet
from msci.logs import logged
from msci.validation.folds import make_folds

sm = snakemake  # noqa: F821
with logged(sm.log[0]) as log:
    adversarial = pd.read_parquet(sm.input.adversarial)
    folds = make_folds(pd.read_parquet(sm.input.cells), seed=sm.params.seed,
                       good_validation=adversarial["good_validation"], **sm.params.folds)
    write_parquet(folds, sm.output.folds)
    log.info("fold strategy: %s (configured: %s)", folds.attrs["strategy"], sm.params.folds["strategy"])
    log.info("fold sizes: %s; good-validation cells per fold: %s",
             folds["fold"].value_counts().sort_index().tolist(),
             folds.groupby("fold")["good_validation"].sum().tolist())
    log.info("day-out cells (latest training day, scored by models trained on the earlier days): %d",
             int(folds["day_out"].sum()))
