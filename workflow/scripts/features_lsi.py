"""Rule features_lsi: LSI of the (TF-IDF) inputs, components scaled, a depth-tracking first component dropped."""

from msci.features.lsi import lsi_features
from msci.features.table import fit_mask
from msci.io.matrix import MatrixFile
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    mask = fit_mask(sm.input.cells, MatrixFile(sm.input.inputs).obs_names, sm.params.fit_on)
    lsi_features(sm.input.inputs, sm.output.table, sm.output.metrics, seed=sm.params.seed, fit_mask=mask,
        out_fitted=sm.output.fitted,
                 **sm.params.lsi)
