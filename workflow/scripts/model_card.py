"""Rule model_card: what a modality's run was trained on, with what and how well, and its fitted files' checksums
(msci.model_card), as JSON and Markdown."""

import json
from pathlib import Path

import pandas as pd

from msci.input_space import read_input_space
from msci.io.artifacts import atomic_path, write_json
from msci.logs import logged
from msci.model_card import build_card, file_checksums, libraries_used, render_markdown, scores, training_data
from msci.target_codes import load_codec

sm = snakemake  # noqa: F821
with logged(sm.log[0]) as log:
    p = sm.params
    root = Path(sm.input.manifest).parent
    manifest = json.loads(Path(sm.input.manifest).read_text())
    names, uns = read_input_space(sm.input.input_space)
    codec = load_codec(sm.input.codec)[0]
    held_out = json.loads(Path(sm.input.score).read_text()).get(p.modality) if sm.input.get("score") else None
    card = build_card(
        modality=p.modality,
        manifest=manifest,
        training=training_data(pd.read_parquet(sm.input.cells), names, codec.target_names,
                               str(uns.get("normalize", "given")), p.target_normalize),
        scores=scores({n: sm.input[f"model_{n}_metrics"] for n in manifest["members"]}, sm.input.ensemble_metrics,
                      held_out),
        config=p.config,
        checksums=file_checksums(root, manifest),
        libraries=libraries_used(root, manifest, p.model_libraries),
    )
    write_json(card, sm.output.card)
    with atomic_path(sm.output.markdown) as tmp:
        tmp.write_text(render_markdown(card))
    log.info("model card: %d fitted files, %d training cells", len(card["files"]), card["training_data"]["n_cells"])
