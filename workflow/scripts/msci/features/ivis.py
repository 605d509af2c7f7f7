"""ivis embedding: a siamese network trained with a triplet loss on nearest neighbours (unsupervised).

Runs on TensorFlow's legacy Keras (``tf-keras``); ``TF_USE_LEGACY_KERAS=1`` must be set before
TensorFlow is first imported, which this module does. The embedding is fit on train + test cells of
a reduced representation (an SVD table) or of the scaled inputs (CITE-sized data only).
"""

from __future__ import annotations

import logging
import os
import random

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from msci.io.artifacts import write_parquet

log = logging.getLogger(__name__)


def _seed_everything(seed: int) -> None:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    try:
        tf.config.experimental.enable_op_determinism()
    except AttributeError:  # older TensorFlow
        pass


def ivis_embedding(X: np.ndarray, *, embedding_dims: int, k: int, epochs: int, batch_size: int, patience: int,
                   scale: bool, seed: int, model: str = "maaten", fit_mask: np.ndarray | None = None) -> np.ndarray:
    """Fit ivis on ``X`` (cells × features; only the ``fit_mask`` rows if given) and embed every row."""
    _seed_everything(seed)
    from ivis import Ivis

    X = StandardScaler().fit_transform(X).astype(np.float32) if scale else np.asarray(X, np.float32)
    dims = min(embedding_dims, X.shape[1])
    ivis = Ivis(embedding_dims=dims, k=k, epochs=epochs, batch_size=min(batch_size, len(X)), model=model,
                n_epochs_without_progress=patience, verbose=0, n_trees=50)
    z = ivis.fit_transform(X) if fit_mask is None else ivis.fit(X[np.asarray(fit_mask, bool)]).transform(X)
    log.info("ivis: %d cells × %d → %d dims, %d epochs", len(z), X.shape[1], dims,
             len(ivis.loss_history_) if getattr(ivis, "loss_history_", None) is not None else epochs)
    return np.asarray(z, dtype=np.float32)


def ivis_features(source: pd.DataFrame, out_path: str, fit_mask: np.ndarray | None = None, **params) -> pd.DataFrame:
    """Embed the cells of ``source`` (index cell_id) and write ``ivis_0…`` columns as parquet."""
    z = ivis_embedding(source.to_numpy(np.float32), fit_mask=fit_mask, **params)
    df = pd.DataFrame(z, index=source.index.rename("cell_id"), columns=[f"ivis_{i}" for i in range(z.shape[1])])
    write_parquet(df, out_path)
    return df
