# msci: multimodal single-cell prediction (Open Problems 2022), as a cached Snakemake workflow.
# Run:  snakemake --cores 8 --resources gpu=1      (see README.md)
from snakemake.utils import min_version

min_version("9.0")


configfile: workflow.source_path("config.yaml")


include: "workflow/rules/common.smk"
# The stages, the same in every input mode.
include: "workflow/rules/data.smk"
include: "workflow/rules/validation.smk"
include: "workflow/rules/targets.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/models.smk"
include: "workflow/rules/tune.smk"
include: "workflow/rules/ensemble.smk"
include: "workflow/rules/units.smk"
include: "workflow/rules/reference.smk"
# The input mode, chosen once (common.smk's input_mode: demo, competition or own): its raw files, what
# ingest reads, what the run delivers and how it is scored.
include: f"workflow/rules/inputs/{INPUT_MODE}.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        final_targets(),
