"""Rule export_archive: one modality of the finished run as one file, NAME.msci (msci.archive), with its model
card."""

from pathlib import Path

from msci.archive import export
from msci.logs import logged

sm = snakemake  # noqa: F821
with logged(sm.log[0]) as log:
    out = export(Path(sm.input.card).parent, sm.output.archive)
    log.info("exported %s (%.1f MB)", out, out.stat().st_size / 1e6)
