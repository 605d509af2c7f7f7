"""Rule features_ivis: ivis embedding of train + test cells (of an SVD table or the scaled inputs)."""

import numpy as np
import pandas as pd

from msci.features.ivis import ivis_features
from msci.features.table import fit_mask
from msci.io.matrix import MatrixFile
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    if sm.input.source.endswith(".h5ad"):  # the ingested inputs, densified (CITE-sized data only)
        m = MatrixFile(sm.input.source)
        x = m.read()
        source = pd.DataFrame(np.asarray(x.toarray() if hasattr(x, "toarray") else x), index=m.obs_names)
    else:
        source = pd.read_parquet(sm.input.source)
    mask = fit_mask(sm.input.cells, source.index.to_numpy(), sm.params.fit_on)
    ivis_features(source, sm.output.table, seed=sm.params.seed, fit_mask=mask,
        out_fitted=sm.output.fitted, **sm.params.ivis)
