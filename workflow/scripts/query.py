"""Rule query_predictions: new cells predicted with a finished run's fitted objects (nothing refit)."""

from pathlib import Path

from msci.logs import logged
from msci.reference import QueryInput, load_model, score_query

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    query = QueryInput.from_config(sm.params.query)
    model = load_model(Path(sm.input.manifest).parent)
    model.predict_file(query, sm.output.predictions, min_share=sm.params.query["min_share"],
                       chunk_rows=sm.params.chunk_rows, name=sm.wildcards.name)
    score_query(sm.output.predictions, query, sm.output.score, chunk_rows=sm.params.chunk_rows)
