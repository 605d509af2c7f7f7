"""msci: multimodal single-cell prediction (library behind the Snakemake workflow).

The library never imports Snakemake; the thin wrappers in ``workflow/scripts`` translate
``snakemake.input/output/params`` into calls of the functions here.
"""

__version__ = "0.1.0"
