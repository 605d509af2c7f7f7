"""msci: multimodal single-cell prediction (library behind the Snakemake workflow).

The library never imports Snakemake; the thin wrappers in ``workflow/scripts`` translate
``snakemake.input/output/params`` into calls of the functions here.
"""

__version__ = "0.1.0"


def load_model(results):
    """A finished run's ``results/<modality>`` folder as a model: ``msci.load_model(path).predict(adata)``."""
    from msci.reference import load_model as _load

    return _load(results)
