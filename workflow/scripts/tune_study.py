"""Rule tune_study: a new, empty Optuna study for one model and modality (msci.tune)."""

from msci.logs import logged
from msci.tune import create_study, study_name

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    name = study_name(sm.params.storage, sm.wildcards.modality, sm.wildcards.model)
    create_study(sm.params.storage, sm.params.journal, name, sm.output.study, sm.params.spec)
