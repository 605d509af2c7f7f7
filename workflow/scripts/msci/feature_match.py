"""A new dataset's features matched to a reference's: genes by name, peaks by name or by interval overlap.

A query (cells a finished run never saw) rarely has the reference's exact columns: genes come in another
order, some are missing and some are extra; peaks are written ``chrN:a-b``, ``chrN-a-b`` or ``chrN_a_b``,
or were called on other data altogether. :func:`match_features` builds one sparse map from the query's
columns onto the reference's, so every row chunk of the query is put into the reference's columns by one
product (:meth:`FeatureMatch.apply`): a missing feature is zero, an extra one is dropped, and the counts of
query peaks that overlap the same reference peak add up (each query peak goes to the reference peak it
overlaps most; of equal overlaps, the one that starts first), as a count matrix over the reference's peaks
would hold them.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from msci.io.checks import InputError

log = logging.getLogger(__name__)
# The chromosome is everything before the last two separators (contigs such as chrUn_KI270742v1 have their own).
PEAK = r"^(?P<chrom>.+)[:_\-](?P<start>\d+)[:_\-](?P<end>\d+)$"


def parse_peaks(names) -> pd.DataFrame | None:
    """Chromosome, start and end of every name, or ``None`` unless all of them are peaks."""
    parts = pd.Series(np.asarray(names, dtype=str)).str.extract(PEAK)
    if len(parts) == 0 or parts.isna().any().any():
        return None
    return pd.DataFrame({"chrom": parts["chrom"].to_numpy(), "start": parts["start"].astype(np.int64).to_numpy(),
                         "end": parts["end"].astype(np.int64).to_numpy()})


@dataclass
class FeatureMatch:
    """Where each query column goes among the reference's: ``mapping`` (query × reference, 0/1)."""

    mapping: sp.csr_matrix
    by: str  # "name" or "name+interval"
    n_by_interval: int = 0

    @property
    def n_reference(self) -> int:
        return self.mapping.shape[1]

    @property
    def n_query(self) -> int:
        return self.mapping.shape[0]

    @property
    def n_matched(self) -> int:
        """Reference features that receive at least one query feature."""
        return int((self.mapping.getnnz(axis=0) > 0).sum())

    @property
    def n_missing(self) -> int:
        return self.n_reference - self.n_matched

    @property
    def n_extra(self) -> int:
        """Query features that reach no reference feature (dropped)."""
        return int((self.mapping.getnnz(axis=1) == 0).sum())

    def summary(self) -> dict:
        """The counts, as the log and ``uns`` report them."""
        return {"n_reference": self.n_reference, "n_query": self.n_query, "n_matched": self.n_matched,
                "n_missing": self.n_missing, "n_extra": self.n_extra, "matched_by": self.by,
                "n_matched_by_interval": self.n_by_interval}

    @functools.cached_property
    def identity(self) -> bool:
        """The query's features are the reference's, in its order (each chunk passes through unchanged)."""
        m = self.mapping
        return (m.shape[0] == m.shape[1] and m.nnz == m.shape[0]
                and bool(np.array_equal(m.indices, np.arange(m.shape[1])))
                and bool(np.array_equal(m.indptr, np.arange(m.shape[0] + 1))))

    def apply(self, X):
        """A row chunk of query values in the reference's columns (sparse stays sparse; missing ones zero)."""
        if X.shape[1] != self.n_query:
            raise ValueError(f"a chunk of {X.shape[1]} columns for a match of {self.n_query} query features")
        if self.identity:  # the common case (a query written with the run's features) costs no product
            return sp.csr_matrix(X) if sp.issparse(X) else np.asarray(X)
        if sp.issparse(X):
            return sp.csr_matrix(X @ self.mapping, dtype=X.dtype)
        return np.asarray((self.mapping.T @ np.asarray(X).T).T, dtype=X.dtype)


def _by_name(reference: np.ndarray, query: np.ndarray) -> np.ndarray:
    """For each query name, the reference column of the same name (-1 when none)."""
    ref = pd.Index(reference)
    if not ref.is_unique:
        dup = ref[ref.duplicated()][0]
        raise ValueError(f"the reference's feature {dup!r} appears more than once")
    return ref.get_indexer(query)


def _by_overlap(ref: pd.DataFrame, query: pd.DataFrame, ref_free: np.ndarray, query_free: np.ndarray) -> np.ndarray:
    """For each query peak in ``query_free``, the reference peak among ``ref_free`` it overlaps most (-1: none)."""
    out = np.full(len(query), -1, dtype=np.int64)
    for chrom, q in query.iloc[query_free].groupby("chrom", sort=False):
        r = ref.iloc[ref_free]
        r = r[r["chrom"].to_numpy() == chrom]
        if r.empty:
            continue
        order = np.argsort(r["start"].to_numpy(), kind="stable")
        starts, ends = r["start"].to_numpy()[order], r["end"].to_numpy()[order]
        cols = ref_free[(ref["chrom"].to_numpy()[ref_free] == chrom)][order]
        longest = int((ends - starts).max())
        qs, qe = q["start"].to_numpy(), q["end"].to_numpy()
        lo = np.searchsorted(starts, qs - longest, side="left")
        hi = np.searchsorted(starts, qe, side="left")
        n = np.maximum(hi - lo, 0)
        which = np.repeat(np.arange(len(q)), n)  # every candidate pair (query peak, reference peak)
        cand = np.repeat(lo, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
        overlap = np.minimum(qe[which], ends[cand]) - np.maximum(qs[which], starts[cand])
        keep = overlap > 0
        which, cand, overlap = which[keep], cand[keep], overlap[keep]
        best = np.lexsort((-overlap, which))  # per query peak, its largest overlap first
        first = np.r_[True, which[best][1:] != which[best][:-1]] if len(best) else np.zeros(0, bool)
        out[q.index.to_numpy()[which[best][first]]] = cols[cand[best][first]]
    return out


def match_features(reference, query, *, min_share: float, source: str = "query") -> FeatureMatch:
    """The map of ``query``'s feature names onto ``reference``'s; stops when under ``min_share`` of the
    reference's features find a match (one line naming ``source`` and the counts)."""
    reference, query = np.asarray(reference, dtype=str), np.asarray(query, dtype=str)
    if len(set(query)) != len(query):
        dup = pd.Index(query)[pd.Index(query).duplicated()][0]
        raise InputError(source, f"feature {dup!r} appears more than once")
    target = _by_name(reference, query)
    by, n_interval = "name", 0
    # Peaks are parsed only for query features no name matched (parsing 228,942 names takes seconds).
    unmatched = bool((target < 0).any())
    ref_peaks, query_peaks = (parse_peaks(reference), parse_peaks(query)) if unmatched else (None, None)
    if ref_peaks is not None and query_peaks is not None:
        canon = lambda p: (p["chrom"] + ":" + p["start"].astype(str) + "-" + p["end"].astype(str)).to_numpy()  # noqa: E731
        target = np.where(target >= 0, target, _by_name(canon(ref_peaks), canon(query_peaks)))
        free = np.flatnonzero(target < 0)
        if len(free):  # against every reference peak: counts of several query peaks add up
            overlap = _by_overlap(ref_peaks, query_peaks, np.arange(len(reference)), free)
            n_interval = int((overlap[free] >= 0).sum())
            target[free] = overlap[free]
            by = "name+interval"
    rows = np.flatnonzero(target >= 0)
    mapping = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, target[rows])),
                            shape=(len(query), len(reference)))
    match = FeatureMatch(mapping, by, n_interval)
    share = match.n_matched / max(len(reference), 1)
    if share < min_share:
        raise InputError(source, f"only {match.n_matched} of the reference's {len(reference)} features "
                                 f"({share:.0%}) are among its {len(query)}; at least {min_share:.0%} must match")
    log.info("features of %s: %d of %d reference features matched (%d by interval), %d missing (zero), %d extra "
             "(dropped)", source, match.n_matched, len(reference), n_interval, match.n_missing, match.n_extra)
    return match
