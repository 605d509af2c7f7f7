"""Important genes kept raw: the genes that encode the target proteins, plus a configurable list.

CITE input columns are ``ENSG…_SYMBOL``. A protein matches the genes whose symbol equals its name
or one of its aliases below (surface-protein names are mostly CD numbers, not gene symbols);
isotype controls (``Mouse-IgG1``, …) measure background and match nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from msci.features.table import RowChunk
from msci.io.artifacts import write_parquet
from msci.io.matrix import MatrixFile

log = logging.getLogger(__name__)

# Surface protein (CITE-seq antibody target) → encoding gene symbol(s), where the names differ.
PROTEIN_GENE_ALIASES: dict[str, tuple[str, ...]] = {
    "CD3": ("CD3E", "CD3D", "CD3G"), "CD8": ("CD8A", "CD8B"), "CD56": ("NCAM1",), "CD11c": ("ITGAX",),
    "CD11b": ("ITGAM",), "CD11a": ("ITGAL",), "HLA-A-B-C": ("HLA-A", "HLA-B", "HLA-C"),
    "HLA-DR": ("HLA-DRA", "HLA-DRB1"), "CD45RA": ("PTPRC",), "CD45RO": ("PTPRC",), "CD45": ("PTPRC",),
    "CD123": ("IL3RA",), "CD105": ("ENG",), "CD49f": ("ITGA6",), "CD49d": ("ITGA4",), "CD49b": ("ITGA2",),
    "CD194": ("CCR4",), "CD195": ("CCR5",), "CD196": ("CCR6",), "CD197": ("CCR7",), "CD183": ("CXCR3",),
    "CD184": ("CXCR4",), "CD16": ("FCGR3A", "FCGR3B"), "CD26": ("DPP4",), "CD62L": ("SELL",), "CD62P": ("SELP",),
    "CD29": ("ITGB1",), "CD71": ("TFRC",), "CD117": ("KIT",), "CD41": ("ITGA2B",), "CD61": ("ITGB3",),
    "CD235ab": ("GYPA", "GYPB"), "CD15": ("FUT4",), "CD13": ("ANPEP",), "CD155": ("PVR",), "CD112": ("NECTIN2",),
    "CD270": ("TNFRSF14",), "CD154": ("CD40LG",), "CD98": ("SLC3A2",), "CD172a": ("SIRPA",), "CD10": ("MME",),
    "CD18": ("ITGB2",), "CD25": ("IL2RA",), "CD35": ("CR1",), "CD39": ("ENTPD1",), "CD42b": ("GP1BA",),
    "CD57": ("B3GAT1",), "CD64": ("FCGR1A",), "CD73": ("NT5E",), "CD127": ("IL7R",), "CD152": ("CTLA4",),
    "CD279": ("PDCD1",), "CD274": ("CD274",), "CD273": ("PDCD1LG2",), "CD32": ("FCGR2A", "FCGR2B"),
    "CD106": ("VCAM1",), "CD134": ("TNFRSF4",), "CD137": ("TNFRSF9",), "CD45RB": ("PTPRC",), "CD20": ("MS4A1",),
    "CD21": ("CR2",), "CD23": ("FCER2",), "CD31": ("PECAM1",), "CD54": ("ICAM1",), "CD50": ("ICAM3",),
    "CD102": ("ICAM2",), "CD55": ("CD55",), "CD11a/CD18": ("ITGAL", "ITGB2"), "CD85j": ("LILRB1",),
    "CD94": ("KLRD1",), "CD161": ("KLRB1",), "CD314": ("KLRK1",), "CD335": ("NCR1",), "CD344": ("FZD4",),
    "CD158": ("KIR2DL1",), "CD328": ("SIGLEC7",), "CD319": ("SLAMF7",), "CD352": ("SLAMF6",), "CD88": ("C5AR1",),
    "CD101": ("CD101",), "CD107a": ("LAMP1",), "CD115": ("CSF1R",), "CD116": ("CSF2RA",), "CD119": ("IFNGR1",),
    "CD135": ("FLT3",), "CD140a": ("PDGFRA",), "CD140b": ("PDGFRB",), "CD141": ("THBD",), "CD144": ("CDH5",),
    "CD146": ("MCAM",), "CD166": ("ALCAM",), "CD303": ("CLEC4C",), "CD304": ("NRP1",), "CD309": ("KDR",),
    "CD324": ("CDH1",), "CD326": ("EPCAM",), "CD328b": ("SIGLEC9",), "CD338": ("ABCG2",), "CD340": ("ERBB2",),
    "FceRIa": ("FCER1A",), "TCRab": ("TRAC",), "TCRgd": ("TRDC",), "IgM": ("IGHM",), "IgD": ("IGHD",),
    "CLEC12A": ("CLEC12A",), "CX3CR1": ("CX3CR1",), "Podoplanin": ("PDPN",), "integrinB7": ("ITGB7",),
    "TSLPR": ("CRLF2",), "LOX-1": ("OLR1",), "HLA-E": ("HLA-E",), "KLRG1": ("KLRG1",), "CD1c": ("CD1C",),
    "CD1d": ("CD1D",), "CD2": ("CD2",), "CD5": ("CD5",), "CD7": ("CD7",), "CD9": ("CD9",), "CD14": ("CD14",),
    "CD19": ("CD19",), "CD22": ("CD22",), "CD24": ("CD24",), "CD27": ("CD27",), "CD28": ("CD28",),
}
_ISOTYPE = re.compile(r"(^|[-_ ])(Ig[GMAE]\d*[a-z]?|isotype)", re.IGNORECASE)


def is_isotype_control(protein: str) -> bool:
    """Isotype-control antibodies (``Mouse-IgG1``, ``Rat-IgG2b``, …) measure background, not a gene."""
    return bool(_ISOTYPE.search(protein)) and "-" in protein and protein.split("-")[0] in {
        "Mouse", "Rat", "Hamster", "Armenian", "Syrian", "Human", "Goat", "Rabbit"}


def gene_symbol(column: str) -> str:
    """``ENSG00000123_CD86`` → ``CD86`` (columns without ``_`` are taken as symbols)."""
    return column.split("_", 1)[1] if "_" in column else column


def match_protein_genes(gene_columns: Sequence[str], proteins: Sequence[str],
                        extra_genes: Sequence[str] = ()) -> tuple[list[str], dict]:
    """Input columns to keep: genes of the target proteins (by name or alias) and ``extra_genes``.

    Returns the columns in input order and a report: protein → matched columns, isotype controls,
    unmatched proteins, extra genes not found.
    """
    by_symbol: dict[str, list[str]] = {}
    for col in gene_columns:
        by_symbol.setdefault(gene_symbol(col).upper(), []).append(col)
    matches, isotypes, unmatched = {}, [], []
    for protein in proteins:
        if is_isotype_control(protein):
            isotypes.append(protein)
            continue
        symbols = {protein.upper(), *(s.upper() for s in PROTEIN_GENE_ALIASES.get(protein, ()))}
        cols = sorted({c for s in symbols for c in by_symbol.get(s, [])})
        if cols:
            matches[protein] = cols
        else:
            unmatched.append(protein)
    extra_found = {g: by_symbol[g.upper()] for g in extra_genes if g.upper() in by_symbol}
    keep = {c for cols in matches.values() for c in cols} | {c for cols in extra_found.values() for c in cols}
    ordered = [c for c in gene_columns if c in keep]
    report = {
        "n_proteins": len(proteins), "n_matched_proteins": len(matches), "n_columns": len(ordered),
        "matches": matches, "isotype_controls": isotypes, "unmatched_proteins": unmatched,
        "extra_genes_missing": [g for g in extra_genes if g.upper() not in by_symbol],
    }
    return ordered, report


def genes_features(inputs_path: str, targets_path: str, out_path: str, *, extra_genes: Sequence[str],
                   chunk_rows: int = 4096) -> dict:
    """Write the matched gene columns of all cells (train + test) as a table; return the match report."""
    inputs, targets = MatrixFile(inputs_path), MatrixFile(targets_path)
    columns, report = match_protein_genes(list(inputs.var_names), list(targets.var_names), extra_genes)
    log.info("genes: %d of %d proteins matched %d input columns; %d isotype controls; unmatched: %s",
             report["n_matched_proteins"], report["n_proteins"], report["n_columns"],
             len(report["isotype_controls"]), ", ".join(report["unmatched_proteins"]) or "none")
    idx = pd.Index(inputs.var_names).get_indexer(columns)
    parts = []
    for _, _, block in inputs.iter_chunks(chunk_rows):
        sub = block[:, idx]
        parts.append(np.asarray(sub.toarray() if hasattr(sub, "toarray") else sub, dtype=np.float32))
    values = np.concatenate(parts) if parts else np.zeros((0, len(columns)), np.float32)
    df = pd.DataFrame(values, index=pd.Index(inputs.obs_names, name="cell_id"), columns=[f"gene_{c}" for c in columns])
    write_parquet(df, out_path)
    return {**report, "columns": columns}


class GenesFamily:
    """The ``genes`` family for new cells: the same input columns (named in the run's match report), raw."""

    def __init__(self, report_path: str, input_names) -> None:
        import json

        names = json.loads(open(report_path).read())["columns"]
        self.idx = pd.Index(input_names).get_indexer(names)
        self.columns = [f"gene_{c}" for c in names]

    def transform(self, chunk: RowChunk) -> np.ndarray:
        sub = chunk.block[:, self.idx]
        return np.asarray(sub.toarray() if hasattr(sub, "toarray") else sub, dtype=np.float32)
