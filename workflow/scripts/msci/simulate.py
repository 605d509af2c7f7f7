"""Demo data in the competition's exact file format, with the structure the method relies on.

Cells follow a latent differentiation state: seven cell types branch from HSCs and progress with
the day, so the private test day (later than every training day) is shifted. RNA counts, surface
proteins, chromatin peaks and gene expression all derive from that state, non-linearly:
proteins are soft-plus functions of loadings shared with the genes named after them, and
Multiome genes open the peaks near their position. Counts are sparse Poisson draws; CITE inputs
are library-size-normalised log1p, ATAC inputs TF-IDF, Multiome targets log1p-normalised.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from msci.io.artifacts import atomic_path
from msci.io.competition import EVALUATION_IDS, METADATA, SAMPLE_SUBMISSION, TECHNOLOGY, write_frame

CELL_TYPES = ("HSC", "EryP", "NeuP", "MasP", "MkP", "BP", "MoP")
TRAIN_DONORS = (13176, 31800, 32606)
TEST_DONOR = 27678
# The competition's day splits: training days, public-test days (test donor only), private day.
SPLITS = {
    "cite": {"train": (2, 3, 4), "public": (2, 3, 4), "private": 7},
    "multi": {"train": (2, 3, 4, 7), "public": (2, 3, 7), "private": 10},
}
# Surface proteins and the gene encoding each (name match, alias, or several genes).
PROTEIN_GENES = (
    ("CD86", ("CD86",)), ("CD3", ("CD3E", "CD3D")), ("HLA-A-B-C", ("HLA-A", "HLA-B", "HLA-C")),
    ("CD8", ("CD8A",)), ("CD56", ("NCAM1",)), ("CD19", ("CD19",)), ("CD33", ("CD33",)),
    ("CD11c", ("ITGAX",)), ("CD45RA", ("PTPRC",)), ("CD123", ("IL3RA",)), ("CD7", ("CD7",)),
    ("CD105", ("ENG",)), ("CD49f", ("ITGA6",)), ("CD194", ("CCR4",)), ("CD4", ("CD4",)),
    ("CD44", ("CD44",)), ("CD14", ("CD14",)), ("CD16", ("FCGR3A",)), ("CD26", ("DPP4",)),
    ("CD62L", ("SELL",)), ("CD29", ("ITGB1",)), ("CD38", ("CD38",)), ("CD71", ("TFRC",)),
    ("CD117", ("KIT",)), ("CD34", ("CD34",)), ("CD36", ("CD36",)), ("CD41", ("ITGA2B",)),
    ("CD61", ("ITGB3",)), ("CD235ab", ("GYPA", "GYPB")), ("CD15", ("FUT4",)), ("CD11b", ("ITGAM",)),
    ("CD13", ("ANPEP",)), ("CD47", ("CD47",)), ("CD48", ("CD48",)), ("CD40", ("CD40",)),
    ("CD52", ("CD52",)), ("CD274", ("CD274",)), ("CD155", ("PVR",)), ("CD112", ("NECTIN2",)),
    ("CD270", ("TNFRSF14",)), ("CD154", ("CD40LG",)), ("CD9", ("CD9",)), ("CD63", ("CD63",)),
    ("CD81", ("CD81",)), ("CD82", ("CD82",)), ("CD98", ("SLC3A2",)), ("CD99", ("CD99",)),
    ("CD151", ("CD151",)), ("CD164", ("CD164",)), ("CD172a", ("SIRPA",)), ("CD226", ("CD226",)),
    ("CD2", ("CD2",)), ("CD5", ("CD5",)), ("CD10", ("MME",)), ("CD18", ("ITGB2",)),
    ("CD22", ("CD22",)), ("CD24", ("CD24",)), ("CD25", ("IL2RA",)), ("CD27", ("CD27",)),
    ("CD28", ("CD28",)), ("CD35", ("CR1",)), ("CD39", ("ENTPD1",)), ("CD42b", ("GP1BA",)),
    ("CD45RO", ("PTPRC",)), ("CD49d", ("ITGA4",)), ("CD57", ("B3GAT1",)), ("CD58", ("CD58",)),
    ("CD64", ("FCGR1A",)), ("CD69", ("CD69",)), ("CD73", ("NT5E",)), ("CD83", ("CD83",)),
)
ISOTYPES = ("Mouse-IgG1", "Mouse-IgG2a", "Mouse-IgG2b", "Rat-IgG2b")
MT_GENES = ("MT-ND1", "MT-ND2", "MT-CO1", "MT-CO2", "MT-ATP8", "MT-ATP6", "MT-CO3", "MT-ND3",
            "MT-ND4L", "MT-ND4", "MT-ND5", "MT-ND6", "MT-CYB")
# GRCh38 chromosome lengths (Mb), for placing peaks; plus unplaced contigs as in the real peak set.
CHROM_MB = {**{f"chr{i}": mb for i, mb in enumerate(
    (248, 242, 198, 190, 181, 171, 159, 145, 138, 134, 135, 133, 114, 107, 102, 90, 83, 80, 59, 64, 47, 51), 1)},
    "chrX": 156, "chrY": 57}
CONTIGS = ("GL000194.1", "GL000205.2", "GL000219.1", "KI270711.1", "KI270721.1", "KI270726.1")
LATENT_DIM = 8


@dataclass
class ModalitySize:
    n_train: int
    n_test: int
    n_inputs: int
    n_targets: int


@dataclass
class SimulationConfig:
    """Sizes and seed of the demo data; the defaults are the demo's."""

    seed: int = 0
    cite: ModalitySize = field(default_factory=lambda: ModalitySize(2400, 1200, 1500, 48))
    multi: ModalitySize = field(default_factory=lambda: ModalitySize(2400, 1200, 4000, 400))
    eval_cell_fraction: float = 0.3
    eval_gene_fraction: float = 0.15

    @classmethod
    def from_dict(cls, d: dict) -> SimulationConfig:
        d = dict(d)
        for m in ("cite", "multi"):
            if m in d and isinstance(d[m], dict):
                d[m] = ModalitySize(**d[m])
        return cls(**d)


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _cell_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    ids = np.unique(rng.integers(0, 16**12, size=int(n * 1.1) + 10))
    ids = rng.permutation(ids)[:n]
    return np.char.mod("%012x", ids).astype(object)


def _latent(rng: np.random.Generator, world: dict, days: np.ndarray, donors: np.ndarray):
    """Cell types, pseudotime and latent state; later days are further along differentiation."""
    n = len(days)
    p_hsc = np.clip(0.42 - 0.035 * days, 0.05, None)
    late = np.clip((days - 2) / 8.0, 0, 1)[:, None]
    w = world["type_weights"][None, :] * (1 - late) + world["type_weights_late"][None, :] * late
    w = w / w.sum(1, keepdims=True) * (1 - p_hsc)[:, None]
    probs = np.concatenate([p_hsc[:, None], w], axis=1)
    u = rng.random(n)[:, None]
    types = (u > np.cumsum(probs, axis=1)).sum(axis=1).clip(0, len(CELL_TYPES) - 1)
    t = rng.beta(1.0 + 0.5 * days, 4.0)
    t = np.where(types == 0, 0.25 * t, t)
    donor_shift = np.stack([world["donor_shift"][d] for d in donors]) if n else np.zeros((0, LATENT_DIM))
    z = (t[:, None] * world["lineage"][types]
         + (days[:, None] - 2) / 8.0 * world["day_drift"][None, :]
         + donor_shift + 0.35 * rng.standard_normal((n, LATENT_DIM)))
    quality = rng.standard_normal(n)
    return types, z, quality


def _counts(rng: np.random.Generator, log_rate: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Poisson counts with per-cell depth, rates a softmax over genes."""
    log_rate = log_rate - log_rate.max(axis=1, keepdims=True)
    rate = np.exp(log_rate)
    rate /= rate.sum(axis=1, keepdims=True)
    return rng.poisson(rate * depth[:, None]).astype(np.float32)


def _lognorm(counts: np.ndarray) -> np.ndarray:
    total = counts.sum(axis=1, keepdims=True)
    return np.log1p(counts / np.maximum(total, 1) * 1e4).astype(np.float32)


def _cells(rng: np.random.Generator, modality: str, size: ModalitySize) -> pd.DataFrame:
    """Metadata of one modality's cells: train days × train donors, public and private test."""
    split = SPLITS[modality]
    tr_days = rng.choice(split["train"], size.n_train)
    tr_donors = rng.choice(TRAIN_DONORS, size.n_train)
    n_pub = size.n_test // 2
    n_priv = size.n_test - n_pub
    te_days = np.concatenate([rng.choice(split["public"], n_pub), np.full(n_priv, split["private"])])
    te_donors = np.concatenate([np.full(n_pub, TEST_DONOR), rng.choice(TRAIN_DONORS + (TEST_DONOR,), n_priv)])
    return pd.DataFrame({
        "split": np.repeat(["train", "test"], [size.n_train, size.n_test]),
        "day": np.concatenate([tr_days, te_days]).astype(int),
        "donor": np.concatenate([tr_donors, te_donors]).astype(int),
    })


def _gene_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    nums = rng.choice(np.arange(100_000, 300_000), size=n, replace=False)
    return np.char.mod("ENSG%011d", nums).astype(object)


def _loadings(rng: np.random.Generator, n: int, scale: float, density: float = 0.4) -> np.ndarray:
    w = rng.standard_normal((n, LATENT_DIM)) * scale
    return w * (rng.random((n, LATENT_DIM)) < density)


def simulate_cite(rng: np.random.Generator, world: dict, size: ModalitySize, truth: dict | None = None):
    """CITE-seq: RNA (normalised log1p) → surface proteins (dsb-like, can be negative); ``truth`` gets each
    cell's latent state and noiseless targets (``state``, ``expected``) and draws nothing more."""
    cells = _cells(rng, "cite", size)
    types, z, quality = _latent(rng, world, cells["day"].to_numpy(), cells["donor"].to_numpy())
    n_iso = min(len(ISOTYPES), max(1, size.n_targets // 12))
    n_prot = size.n_targets - n_iso
    # Beyond the named table, more proteins get synthetic CD numbers (gene of the same name).
    extra = tuple((f"CD{300 + i}", (f"CD{300 + i}",)) for i in range(max(0, n_prot - len(PROTEIN_GENES))))
    proteins = (PROTEIN_GENES + extra)[:n_prot]
    protein_names = [p for p, _ in proteins] + list(ISOTYPES[:n_iso])
    # Proteins: soft-plus of a latent direction plus a gated interaction; genes share the direction.
    a = rng.standard_normal((n_prot, LATENT_DIM)) / np.sqrt(LATENT_DIM) * 1.6
    b = rng.standard_normal((n_prot, LATENT_DIM)) / np.sqrt(LATENT_DIM)
    c = rng.standard_normal((n_prot, LATENT_DIM)) / np.sqrt(LATENT_DIM)
    h = z @ a.T
    background = 0.3 * rng.standard_normal((len(cells), 1))
    # dsb-like: each protein has its own level and dynamic range (a cell's profile is dominated by them,
    # as in real data, where the mean profile alone correlates well with most cells).
    level = rng.normal(1.5, 1.5, n_prot)
    amplitude = rng.lognormal(0.0, 0.4, n_prot)
    expected = np.concatenate([level + amplitude * (1.4 * _softplus(2.0 * h - 1.0) + 0.8 * np.tanh(z @ b.T)
                                                    * np.tanh(1.5 * z @ c.T) - 0.8) + background,
                               np.broadcast_to(background, (len(cells), n_iso))], axis=1)
    noise = np.concatenate([0.3 * rng.standard_normal(h.shape), 0.25 * rng.standard_normal((len(cells), n_iso))],
                           axis=1)
    targets = (expected + noise).astype(np.float32)
    if truth is not None:
        truth.update(expected=expected.astype(np.float32), state=z)
    # Genes: those encoding a protein carry its direction; mitochondrial genes follow cell quality.
    symbols, gene_dirs = [], []
    for j, (_, genes) in enumerate(proteins):
        for g in genes:
            if g not in symbols:
                symbols.append(g)
                gene_dirs.append(1.3 * a[j])
    n_other = size.n_inputs - len(symbols) - len(MT_GENES)
    if n_other < 1:
        raise ValueError(f"need more than {len(symbols) + len(MT_GENES)} CITE genes")
    symbols += [f"GENE{i}" for i in range(n_other)] + list(MT_GENES)
    w = np.concatenate([np.array(gene_dirs), _loadings(rng, n_other, 0.7), np.zeros((len(MT_GENES), LATENT_DIM))])
    base = rng.normal(-1.0, 1.2, len(symbols))
    base[-len(MT_GENES):] = rng.normal(2.0, 0.3, len(MT_GENES))
    log_rate = base + z @ w.T + 0.4 * np.tanh(z @ _loadings(rng, len(symbols), 0.8).T)
    log_rate[:, -len(MT_GENES):] += 0.8 * quality[:, None]
    perm = rng.permutation(len(symbols))  # genes in no particular order, as in the real file
    depth = np.exp(rng.normal(np.log(0.8 * size.n_inputs), 0.35, len(cells)) + 0.15 * quality)
    inputs = _lognorm(_counts(rng, log_rate[:, perm], depth))
    gene_names = (_gene_ids(rng, len(symbols)) + "_" + np.array(symbols, dtype=object))[perm]
    return cells, types, inputs, gene_names, targets, np.array(protein_names, dtype=object)


def _peaks(rng: np.random.Generator, n_peaks: int):
    n_contig = max(len(CONTIGS), n_peaks // 100)
    chroms = list(CHROM_MB)
    share = np.array([CHROM_MB[c] for c in chroms], dtype=float)
    n_per = np.maximum(1, np.floor(share / share.sum() * (n_peaks - n_contig)).astype(int))
    n_per[0] += n_peaks - n_contig - n_per.sum()
    names, chrom_of = [], []
    n_contigs = np.diff(np.linspace(0, n_contig, len(CONTIGS) + 1).astype(int))
    for chrom, k in zip(chroms + list(CONTIGS), list(n_per) + list(n_contigs), strict=True):
        length = int(CHROM_MB.get(chrom, 0.2) * 1_000_000)
        step = int(max(1, min(1000, (length - 20_000) // (2 * k))))  # 1 kb apart unless k peaks do not fit
        starts = np.sort(rng.choice(np.arange(10_000, length - 10_000, step), size=k, replace=False))
        ends = starts + rng.integers(200, 1200, k)
        names.append(np.char.add(np.char.add(np.char.add(f"{chrom}:", starts.astype(str)), "-"), ends.astype(str)))
        chrom_of += [chrom] * k
    return np.concatenate(names).astype(object), np.array(chrom_of, dtype=object)


def simulate_multi(rng: np.random.Generator, world: dict, size: ModalitySize, truth: dict | None = None):
    """Multiome: ATAC peaks (TF-IDF) → gene expression (log1p normalised); ``truth`` gets each cell's latent state,
    expression rates and depth (``state``, ``log_rate``, ``depth``) and draws nothing more."""
    cells = _cells(rng, "multi", size)
    types, z, quality = _latent(rng, world, cells["day"].to_numpy(), cells["donor"].to_numpy())
    n = len(cells)
    # Gene expression from the latent state, with a non-linear part.
    w = _loadings(rng, size.n_targets, 0.8)
    activity = z @ w.T + 0.5 * np.tanh(z @ _loadings(rng, size.n_targets, 0.9).T) ** 2
    base = rng.normal(-1.0, 1.0, size.n_targets)
    depth = np.exp(rng.normal(np.log(1.0 * size.n_targets), 0.35, n) + 0.15 * quality)
    targets = _lognorm(_counts(rng, base + activity, depth))
    if truth is not None:
        truth.update(log_rate=base + activity, depth=depth, state=z)
    # Peaks: each gene opens the peaks next to its position; others follow weak latent loadings.
    peak_names, peak_chrom = _peaks(rng, size.n_inputs)
    logit = rng.normal(-2.6, 0.6, size.n_inputs)[None, :] + z @ _loadings(rng, size.n_inputs, 0.25).T
    anchor = rng.choice(size.n_inputs, size.n_targets, replace=True)
    for offset in (-1, 0, 1):  # three linked peaks per gene (same contig most of the time)
        idx = np.clip(anchor + offset, 0, size.n_inputs - 1)
        np.add.at(logit.T, idx, (1.3 * activity).T)
    logit += rng.normal(0, 0.3, n)[:, None]
    p_open = 1.0 / (1.0 + np.exp(-logit))
    counts = (rng.random(logit.shape) < p_open) * (1 + rng.poisson(0.3, logit.shape))
    counts = counts.astype(np.float32)
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    idf = n / (1.0 + counts.sum(axis=0, keepdims=True))
    inputs = np.log1p(tf * idf * 1e4).astype(np.float32)
    return cells, types, inputs, peak_names, targets, _gene_ids(rng, size.n_targets)


def _world(rng: np.random.Generator) -> dict:
    lineage = rng.standard_normal((len(CELL_TYPES), LATENT_DIM))
    lineage = 3.0 * lineage / np.linalg.norm(lineage, axis=1, keepdims=True)
    lineage[0] = 0.0
    return {
        "lineage": lineage,
        "type_weights": rng.dirichlet(np.full(len(CELL_TYPES) - 1, 3.0)),
        "type_weights_late": rng.dirichlet(np.full(len(CELL_TYPES) - 1, 3.0)),
        "day_drift": 0.8 * rng.standard_normal(LATENT_DIM),
        "donor_shift": {d: 0.3 * rng.standard_normal(LATENT_DIM) for d in TRAIN_DONORS + (TEST_DONOR,)},
    }


def simulate_arrays(modality: str, size: ModalitySize, seed: int = 0):
    """One modality's data in memory (for benchmarks): ``(cells, inputs, input_names, targets, target_names)``."""
    rng = np.random.default_rng(seed)
    world = _world(rng)
    sim = simulate_cite if modality == "cite" else simulate_multi
    cells, types, inputs, in_names, targets, tg_names = sim(rng, world, size)
    cells["cell_type"] = np.array(CELL_TYPES, dtype=object)[types]
    return cells, inputs, in_names, targets, tg_names


def _tasks(cfg: SimulationConfig, rng: np.random.Generator, states: dict | None = None):
    """Each task's cells, in the order the competition files draw them from ``rng`` (one world for both tasks);
    ``states`` gets each task's noiseless state (see ``simulate_cite``, ``simulate_multi``)."""
    world = _world(rng)
    ids = _cell_ids(rng, sum(s.n_train + s.n_test for s in (cfg.cite, cfg.multi)))
    offset = 0
    for modality, size, sim in (("cite", cfg.cite, simulate_cite), ("multi", cfg.multi, simulate_multi)):
        truth = None if states is None else states.setdefault(modality, {})
        cells, types, inputs, in_names, targets, tg_names = sim(rng, world, size, truth)
        cells["cell_id"] = ids[offset: offset + len(cells)]
        offset += len(cells)
        yield modality, cells, types, inputs, in_names, targets, tg_names


@dataclass
class Truth:
    """One task's simulated cells (``cell_id``, ``split``, ``day``) with their targets, each one's latent state and
    its expected targets given that state."""

    cells: pd.DataFrame
    targets: np.ndarray
    state: np.ndarray
    expected: np.ndarray


def simulated_truth(config: SimulationConfig, draws: int = 16, seed: int = 0) -> dict[str, Truth]:
    """Per task, the cells of ``simulate_competition``'s files and what an oracle that knew each cell's simulated
    state would predict: its noiseless targets (Multiome: the mean of ``draws`` fresh count draws at its rates and
    sequencing depth, from ``seed``), a reference above anything a model of the inputs can expect to reach."""
    states: dict = {}
    out = {}
    for modality, cells, _, _, _, targets, _ in _tasks(config, np.random.default_rng(config.seed), states):
        truth = states[modality]
        if modality == "cite":
            expected = truth["expected"]
        else:
            rng = np.random.default_rng(seed)
            expected = np.mean([_lognorm(_counts(rng, truth["log_rate"], truth["depth"])) for _ in range(draws)],
                               axis=0)
        out[modality] = Truth(cells[["cell_id", "split", "day"]], targets, truth["state"], expected)
    return out


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def simulate_competition(out_dir: str | os.PathLike, hidden_dir: str | os.PathLike,
                         config: SimulationConfig | None = None) -> None:
    """Write the nine competition files to ``out_dir`` and the hidden test targets to ``hidden_dir``.

    ``hidden_dir`` gets ``test_cite_targets.h5``, ``test_multi_targets.h5`` (competition format)
    and ``test_metadata.csv`` (the test cells' true cell types).
    """
    cfg = config or SimulationConfig()
    out, hidden = Path(out_dir), Path(hidden_dir)
    out.mkdir(parents=True, exist_ok=True)
    hidden.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    metas, truths, eval_parts = [], [], []
    for modality, cells, types, inputs, in_names, targets, tg_names in _tasks(cfg, rng):
        tr = (cells["split"] == "train").to_numpy()
        ct = np.array(CELL_TYPES, dtype=object)[types]
        metas.append(pd.DataFrame({"cell_id": cells["cell_id"], "day": cells["day"], "donor": cells["donor"],
                                   "cell_type": np.where(tr, ct, "hidden"), "technology": TECHNOLOGY[modality]}))
        truths.append(pd.DataFrame({"cell_id": cells["cell_id"][~tr], "cell_type": ct[~tr]}))
        tr_ids, te_ids = cells["cell_id"][tr].to_numpy(), cells["cell_id"][~tr].to_numpy()
        frame = lambda x, idx, cols: pd.DataFrame(x, index=pd.Index(idx, name="cell_id"), columns=pd.Index(cols))  # noqa: E731
        write_frame(frame(inputs[tr], tr_ids, in_names), out / f"train_{modality}_inputs.h5")
        write_frame(frame(inputs[~tr], te_ids, in_names), out / f"test_{modality}_inputs.h5")
        write_frame(frame(targets[tr], tr_ids, tg_names), out / f"train_{modality}_targets.h5")
        write_frame(frame(targets[~tr], te_ids, tg_names), hidden / f"test_{modality}_targets.h5")
        if modality == "cite":
            eval_parts.append(pd.DataFrame({"cell_id": np.repeat(te_ids, len(tg_names)),
                                            "gene_id": np.tile(tg_names, len(te_ids))}))
        else:
            n_cells = max(1, round(cfg.eval_cell_fraction * len(te_ids)))
            n_genes = max(1, round(cfg.eval_gene_fraction * len(tg_names)))
            chosen = np.sort(rng.choice(len(te_ids), n_cells, replace=False))
            gene_idx = np.sort(np.argsort(rng.random((n_cells, len(tg_names))), axis=1)[:, :n_genes], axis=1)
            eval_parts.append(pd.DataFrame({"cell_id": np.repeat(te_ids[chosen], n_genes),
                                            "gene_id": tg_names[gene_idx.ravel()]}))
    evaluation = pd.concat(eval_parts, ignore_index=True)
    evaluation.insert(0, "row_id", np.arange(len(evaluation)))
    _write_csv(pd.concat(metas, ignore_index=True), out / METADATA)
    _write_csv(evaluation, out / EVALUATION_IDS)
    _write_csv(pd.DataFrame({"row_id": evaluation["row_id"], "target": 0.0}), out / SAMPLE_SUBMISSION)
    _write_csv(pd.concat(truths, ignore_index=True), hidden / "test_metadata.csv")
