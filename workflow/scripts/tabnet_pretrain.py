"""Rule tabnet_pretrain: unsupervised TabNet pre-training on train + test cells (cached artifact)."""

import pandas as pd

from msci.features.table import load_features
from msci.logs import logged
from msci.models.tabnet import pretrain_tabnet

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    cells = pd.read_parquet(sm.input.cells)
    X = load_features(sm.input.features, cells.index.to_numpy()).to_numpy()
    pretrain_tabnet(X, sm.output.pretrainer, seed=sm.params.seed, **sm.params.architecture, **sm.params.pretrain)
