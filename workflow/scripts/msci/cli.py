"""``msci``: a trained model outside Snakemake.

``msci export RESULTS/<modality> -o NAME.msci`` packs a finished run's modality into one archive with its model
card (:mod:`msci.archive`); ``msci predict MODEL QUERY -o OUT.h5ad`` predicts a query's cells with an archive or a
run folder as the ``query`` rule does (same options, same file). Its defaults are the config schema's
``query:`` entry's, read from the schema (their one home). Every failure is one line on stderr, exit status 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from msci.io.checks import InputError

SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


def query_defaults() -> dict[str, Any]:
    """The ``query:`` entry's defaults and the rows read at a time (``ingest.chunk_rows``), from the schema."""
    schema = yaml.safe_load(SCHEMA.read_text())
    props = schema["$defs"]["query_input"]["properties"]
    out = {k: v["default"] for k, v in props.items() if "default" in v}
    out["chunk_rows"] = schema["properties"]["ingest"]["properties"]["chunk_rows"]["default"]
    return out


def _parser() -> argparse.ArgumentParser:
    d = query_defaults()
    parser = argparse.ArgumentParser(prog="msci", description="A trained msci model outside Snakemake.")
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="pack a finished run's results/<modality> into NAME.msci with its model card")
    ex.add_argument("results", help="the run's results/<modality> folder")
    ex.add_argument("-o", "--output", required=True, help="the archive to write (NAME.msci)")
    pr = sub.add_parser("predict", help="predict a query's cells with an archive or a run's results/<modality>")
    pr.add_argument("model", help="NAME.msci, or a finished run's results/<modality>")
    pr.add_argument("query", help="the query cells: .h5ad, or .h5mu with --modality")
    pr.add_argument("-o", "--output", required=True, help="the predictions' .h5ad")
    pr.add_argument("--modality", help="in an .h5mu: the modality with the input features")
    pr.add_argument("--layer", default=d["layer"], help="X or a layer of the inputs (default %(default)s)")
    pr.add_argument("--normalize", default=d["normalize"], choices=["none", "log1p_cp10k", "clr", "tfidf"],
                    help="as the run's inputs were: none, or from counts (default %(default)s)")
    pr.add_argument("--targets", help="for scoring: an .h5ad of the cells' targets, or in an .h5mu its modality")
    pr.add_argument("--target-layer", default=d["target_layer"])
    pr.add_argument("--target-normalize", default=d["target_normalize"], choices=["none", "log1p_cp10k", "clr"])
    pr.add_argument("--score", help="with --targets: write the field's metrics (blend, each model, mean profile) here")
    pr.add_argument("--layers", nargs="+", default=d["layers"], choices=["X", "standardized", "fold_sd"],
                    help="what the .h5ad holds (default %(default)s; obs['fold_sd_mean'] always)")
    pr.add_argument("--dtype", default=d["dtype"], choices=["float16", "float32"], help="default %(default)s")
    pr.add_argument("--min-share", type=float, default=d["min_share"],
                    help="stop when fewer of the model's input features are found (default %(default)s)")
    pr.add_argument("--chunk-rows", type=int, default=d["chunk_rows"], help="cells at a time (default %(default)s)")
    pr.add_argument("--name", help="the query's name in the file (default: the query file's stem)")
    return parser


def _entry(args: argparse.Namespace) -> dict[str, Any]:
    """A ``query:`` entry from the flags (what the rule reads from the config)."""
    mudata = Path(args.query).suffix == ".h5mu"
    if mudata and not args.modality:
        raise ValueError(f"{args.query}: an .h5mu query needs --modality (the modality with the input features)")
    entry = {"modality": None, "format": "mudata" if mudata else "anndata", "layer": args.layer,
             "normalize": args.normalize, "target_layer": args.target_layer, "target_normalize": args.target_normalize}
    if mudata:
        entry.update(path=args.query, inputs=args.modality)
    else:
        entry["inputs"] = args.query
    if args.targets:
        entry["targets"] = args.targets
    return entry


def predict(args: argparse.Namespace) -> None:
    from msci.reference import QueryInput, load_model, score_query

    if args.score and not args.targets:
        raise ValueError("--score needs --targets (the query cells' measured targets)")
    query = QueryInput.from_config(_entry(args))
    model = load_model(args.model)
    name = args.name or Path(args.query).stem
    with tempfile.TemporaryDirectory(dir=Path(args.output).resolve().parent) as scratch:
        each = str(Path(scratch) / "models.h5ad") if args.score else None
        n = model.predict_file(query, args.output, min_share=args.min_share, chunk_rows=args.chunk_rows, name=name,
                               models_path=each, layers=args.layers, dtype=args.dtype, progress=True)
        print(f"{n:,} cells predicted → {args.output}")
        if args.score:
            score = score_query(args.output, query, args.score, models_path=each, chunk_rows=args.chunk_rows)
            blend = score["field_metrics"]["blend"]
            print(f"score on {score['n_cells']:,} cells with targets: per-cell Pearson "
                  f"{blend['mean_pearson_per_cell']:.4f}, RMSE {blend['rmse']:.4f} → {args.score}")


def export(args: argparse.Namespace) -> None:
    from msci.archive import export as pack

    out = pack(args.results, args.output)
    card = json.loads(Path(args.results, "model_card.json").read_text())
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB): {card['modality']}, {len(card['files'])} fitted files, "
          f"{card['training_data']['n_cells']:,} training cells")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    # The feature match is a line worth reading; the per-chunk progress is the bar's.
    logging.getLogger("msci.feature_match").setLevel(logging.INFO)
    try:
        {"export": export, "predict": predict}[args.command](args)
    except (InputError, ValueError, OSError, KeyError) as err:
        print(f"msci {args.command}: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
