"""Rule features_bm25: LSI of the binarised inputs weighted by BM25, components scaled, a depth-tracking first
component dropped."""

from msci.features.lsi import lsi_features
from msci.features.table import fit_mask
from msci.io.matrix import MatrixFile
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    settings = dict(sm.params.bm25)
    weights = {k: settings.pop(k) for k in ("k1", "b")}
    mask = fit_mask(sm.input.cells, MatrixFile(sm.input.inputs).obs_names, sm.params.fit_on)
    lsi_features(sm.input.inputs, sm.output.table, sm.output.metrics, seed=sm.params.seed, fit_mask=mask,
                 out_fitted=sm.output.fitted, bm25=weights, prefix="bm25", **settings)
