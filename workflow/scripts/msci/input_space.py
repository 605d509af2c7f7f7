"""A run's input space: its input features' names and how they were normalised, without a single cell.

The ``reference`` rule writes it so that a query (:mod:`msci.reference`) matches and normalises new cells as
the run's inputs were without reading those inputs (``ingest/inputs.h5ad`` may hold 100 GB).
"""

from __future__ import annotations

import logging

import h5py
import numpy as np
from anndata.io import read_elem

from msci.io.matrix import MatrixFile, MatrixWriter

log = logging.getLogger(__name__)


def write_input_space(inputs: str, out_path: str) -> None:
    """A zero-row ``.h5ad`` with the inputs' feature names and ``uns`` (normalisation, IDF)."""
    with h5py.File(inputs, "r") as f:
        uns = read_elem(f["uns"]) if "uns" in f else {}
    names = MatrixFile(inputs).var_names
    with MatrixWriter(out_path, names, uns=uns):
        pass
    log.info("input space: %d features of %s (normalize %s)", len(names), inputs, uns.get("normalize", "given"))


def read_input_space(path: str) -> tuple[np.ndarray, dict]:
    """The input features' names and ``uns`` (``normalize``, and ``idf`` for tfidf) of :func:`write_input_space`."""
    with h5py.File(path, "r") as f:
        uns = read_elem(f["uns"]) if "uns" in f else {}
    return MatrixFile(path).var_names, uns
