"""``evaluation_ids.csv`` streamed with PyArrow: tens of millions of rows, never held whole.

Cell and gene names are read as Arrow dictionaries, so each distinct name of a block is looked up
once (:func:`indexer`), not once per row.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from msci.io.checks import InputError, require_file


def indexer(index: pd.Index, names) -> np.ndarray:
    """Positions of ``names`` in ``index`` (−1 where absent); an Arrow dictionary array is looked up
    once per distinct name."""
    if isinstance(names, pa.DictionaryArray):
        pos = index.get_indexer(names.dictionary.to_numpy(zero_copy_only=False))
        codes = names.indices.to_numpy(zero_copy_only=False)
        return pos[codes]
    return index.get_indexer(np.asarray(names))


_EVAL_TYPES = {"row_id": pa.int64(), "cell_id": pa.dictionary(pa.int32(), pa.string()),
               "gene_id": pa.dictionary(pa.int32(), pa.string())}


def eval_batches(path: str, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """``evaluation_ids`` as Arrow record batches of about ``chunk_rows`` rows (streamed, never whole)."""
    require_file(path)
    try:
        header = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 16)).schema.names
    except pa.ArrowInvalid as e:
        raise InputError(path, f"cannot read evaluation ids ({e})") from None
    missing = [c for c in _EVAL_TYPES if c not in header]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}; found {', '.join(header)}")
    opts = pacsv.ConvertOptions(column_types=_EVAL_TYPES, include_columns=list(_EVAL_TYPES))
    try:
        reader = pacsv.open_csv(path, read_options=pacsv.ReadOptions(block_size=max(1 << 16, chunk_rows * 40)),
                                convert_options=opts)
        for batch in reader:
            if batch.num_rows:
                yield batch
    except pa.ArrowInvalid as e:
        raise InputError(path, f"cannot read evaluation ids ({e})") from None


