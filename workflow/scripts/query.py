"""Rule query_predictions: new cells predicted with a finished run's fitted objects (nothing refit)."""

import tempfile
from pathlib import Path

from msci.logs import logged
from msci.reference import QueryInput, load_model, score_query

sm = snakemake  # noqa: F821
with logged(sm.log[0]), tempfile.TemporaryDirectory(dir=Path(sm.output.score).parent) as scratch:
    query = QueryInput.from_config(sm.params.query)
    model = load_model(Path(sm.input.manifest).parent)
    # With targets, each model's own predictions go to a scratch file to be scored beside the blend.
    each = str(Path(scratch) / "models.h5ad") if query.targets else None
    entry = sm.params.query
    model.predict_file(query, sm.output.predictions, min_share=entry["min_share"], chunk_rows=sm.params.chunk_rows,
                       name=sm.wildcards.name, models_path=each, layers=entry["layers"], dtype=entry["dtype"])
    score_query(sm.output.predictions, query, sm.output.score, models_path=each, chunk_rows=sm.params.chunk_rows)
