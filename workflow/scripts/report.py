"""Rule report: write results/report/index.html (plots embedded)."""

from msci.logs import logged
from msci.report import write_report

sm = snakemake  # noqa: F821
keys = ("cells", "targets", "codes", "codec", "split_codes", "split_codecs", "adversarial", "adversarial_metrics",
        "cell_type_metrics", "ensemble_metrics", "model_card")
with logged(sm.log[0]):
    modalities = {
        m: {**{k: sm.input[f"{m}_{k}"] for k in keys},
            "models": {n: sm.input[f"{m}_model_{n}"] for n in sm.params.models[m]},
            "oofs": {n: sm.input[f"{m}_oof_{n}"] for n in sm.params.members[m]},
            "studies": {n: {k: sm.input[f"{m}_tune_{n}_{k}"] for k in ("trials", "importances", "best")}
                        for n in sm.params.studies[m]}}
        for m in sm.params.modalities
    }
    write_report(sm.output.html, modalities, score_path=sm.input.get("score"), own_data=sm.params.own_data)
