"""Rule check_inputs: every input file checked (structure, names, metadata, evaluation ids) before ingest;
for own data, the modality's AnnData/MuData (modalities, layers, obs columns, cell names)."""

from msci.ingest_anndata import check_own_data
from msci.logs import logged
from msci.preflight import check_inputs

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    if sm.params.own:
        check_own_data(sm.wildcards.modality, sm.params.own, out_path=sm.output.summary)
    else:
        check_inputs(
            {m: {k: sm.input[f"{m}_{k}"] for k in ("train_inputs", "test_inputs", "train_targets")}
             for m in sm.params.modalities},
            sm.input.metadata,
            sm.input.evaluation_ids,
            sm.input.get("sample_submission"),
            out_path=sm.output.summary,
            require_all=set(sm.params.modalities) == {"cite", "multi"},
            summary_of=sm.wildcards.modality,
        )
