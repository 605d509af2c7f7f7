"""Rule tune_study: a new, empty Optuna study for one model and modality (msci.tune)."""

from msci.logs import logged
from msci.tune import create_study

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    create_study(sm.params.storage, sm.params.journal, sm.params.name, sm.output.study, sm.params.spec)
