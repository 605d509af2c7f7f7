"""Rule tune_results: a study's best params (best.yaml), every trial (trials.csv) and the params' importances."""

from msci.logs import logged
from msci.tune import summarize

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    summarize(sm.input.study, sm.params.storage, sm.params.space, sm.output.best, sm.output.trials,
              sm.output.importances)
