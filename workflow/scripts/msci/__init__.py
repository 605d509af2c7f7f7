"""msci: multimodal single-cell prediction (library behind the Snakemake workflow).

The library never imports Snakemake; the thin wrappers in ``workflow/scripts`` translate
``snakemake.input/output/params`` into calls of the functions here.
"""

__version__ = "0.1.0"



def __getattr__(name: str):
    """``msci.load_model`` (:func:`msci.reference.load_model`), imported on first use: importing the package (as
    every module does) stays light, and the workflow's rules do not depend on the query code."""
    if name == "load_model":
        import importlib

        return importlib.import_module("msci.reference").load_model
    raise AttributeError(f"module 'msci' has no attribute {name!r}")
