"""Rule units: each cell's predicted level and scale, for predictions in the targets' units."""

from msci.logs import logged
from msci.split_codecs import TargetFiles
from msci.units import fit_units

sm = snakemake  # noqa: F821
with logged(sm.log[0]):
    fit_units(
        list(sm.input.features),
        sm.input.targets,
        sm.input.cells,
        sm.input.folds,
        sm.input.blend_oof,
        TargetFiles(sm.input.codes, sm.input.codec, sm.input.split_codes, sm.input.split_codecs),
        alpha=sm.params.alpha,
        chunk_rows=sm.params.chunk_rows,
        out_levels=sm.output.levels,
        out_model=sm.output.model,
        out_metrics=sm.output.metrics,
    )
