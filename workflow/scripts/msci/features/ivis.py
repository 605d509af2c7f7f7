"""ivis embedding: a siamese network trained with a triplet loss on nearest neighbours (unsupervised).

Runs on TensorFlow's legacy Keras (``tf-keras``); ``TF_USE_LEGACY_KERAS=1`` must be set before
TensorFlow is first imported, which this module does. The embedding is fit on train + test cells of
a reduced representation (an SVD table) or of the scaled inputs (CITE-sized data only).
"""

from __future__ import annotations

import logging
import os
import random
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from msci.features.table import RowChunk
from msci.io.artifacts import write_parquet
from msci.io.fitted import atomic_dir, load_sklearn, read_manifest, save_sklearn, write_manifest

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


def fit_ivis(X: np.ndarray, *, embedding_dims: int, k: int, epochs: int, batch_size: int, patience: int,
             scale: bool, seed: int, model: str = "maaten", fit_mask: np.ndarray | None = None) -> IvisTransform:
    """Fit ivis on ``X`` (cells × features; only the ``fit_mask`` rows if given), its input scaler on the same rows."""
    _seed_everything(seed)
    from ivis import Ivis

    fit = np.ones(len(X), bool) if fit_mask is None else np.asarray(fit_mask, bool)
    X = np.asarray(X, np.float32)
    scaler = StandardScaler().fit(X[fit]) if scale else None
    Xs = scaler.transform(X[fit]).astype(np.float32) if scaler is not None else X[fit]
    dims = min(embedding_dims, X.shape[1])
    ivis = Ivis(embedding_dims=dims, k=k, epochs=epochs, batch_size=min(batch_size, int(fit.sum())), model=model,
                n_epochs_without_progress=patience, verbose=0, n_trees=50)
    ivis.fit(Xs)
    log.info("ivis: %d cells × %d → %d dims, %d epochs", len(Xs), X.shape[1], dims,
             len(ivis.loss_history_) if getattr(ivis, "loss_history_", None) is not None else epochs)
    return IvisTransform(ivis.encoder_, scaler, ivis.batch_size)


class IvisTransform:
    """A fitted ivis encoder (a Keras model) and its input scaler: rows in, embedding out."""

    def __init__(self, encoder, scaler: StandardScaler | None, batch_size: int) -> None:
        self.encoder, self.scaler, self.batch_size = encoder, scaler, batch_size

    def transform(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, np.float32)
        X = self.scaler.transform(X).astype(np.float32) if self.scaler is not None else X
        return np.asarray(self.encoder.predict(X, batch_size=self.batch_size, verbose=0), dtype=np.float32)

    def save(self, folder: str) -> None:
        """The encoder in Keras' HDF5 format and the scaler as ``.skops``, in a folder written whole."""
        with atomic_dir(folder) as tmp:
            self.encoder.save(tmp / "encoder.h5")
            if self.scaler is not None:
                save_sklearn(self.scaler, tmp / "scaler.skops")
            write_manifest(tmp, {"batch_size": int(self.batch_size), "scaled": self.scaler is not None})

    @classmethod
    def load(cls, folder: str) -> IvisTransform:
        _seed_everything(0)
        import tf_keras

        manifest = read_manifest(folder)
        encoder = tf_keras.models.load_model(Path(folder) / "encoder.h5", compile=False)
        scaler = load_sklearn(Path(folder) / "scaler.skops") if manifest["scaled"] else None
        return cls(encoder, scaler, manifest["batch_size"])


def ivis_features(source: pd.DataFrame, out_path: str, fit_mask: np.ndarray | None = None,
                  out_fitted: str | None = None, **params) -> pd.DataFrame:
    """Embed the cells of ``source`` (index cell_id) and write ``ivis_0…`` columns as parquet; ``out_fitted``: the
    fitted encoder (:class:`IvisTransform`), which embeds new cells."""
    fitted = fit_ivis(source.to_numpy(np.float32), fit_mask=fit_mask, **params)
    z = fitted.transform(source.to_numpy(np.float32))
    df = pd.DataFrame(z, index=source.index.rename("cell_id"), columns=[f"ivis_{i}" for i in range(z.shape[1])])
    write_parquet(df, out_path)
    if out_fitted:
        fitted.save(out_fitted)
    return df


class IvisFamily:
    """The fitted ``ivis`` family applied to new cells: the encoder on the cells' ``source`` (a family, or inputs)."""

    def __init__(self, folder: str, source: str) -> None:
        self.ivis = IvisTransform.load(folder)
        self.source = source
        self.columns = [f"ivis_{i}" for i in range(int(self.ivis.encoder.output_shape[-1]))]

    def transform(self, chunk: RowChunk) -> np.ndarray:
        x = chunk.block if self.source == "inputs" else chunk.tables[self.source]
        return self.ivis.transform(x.toarray() if hasattr(x, "toarray") else x)
