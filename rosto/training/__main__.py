"""``python -m rosto.training MODEL [--data DIR] [--out DIR] [--fresh] [--tune-from ONNX
[--first-stage K]]``: train one model.

The same command is ``rosto train``; both parse with ``add_arguments`` and run ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from rosto.models import WEIGHTS_DIR
from rosto.training import MODELS, TorchMissingError, require_torch
from rosto.training.data import DATA


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", choices=MODELS)
    parser.add_argument("--data", type=Path, default=DATA, help="the labelled data folder")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="where the ONNX goes")
    parser.add_argument("--fresh", action="store_true", help="recompute the cached faces")
    parser.add_argument("--tune-from", type=Path, default=None, metavar="ONNX",
                        help="fine_faces only: skip the base training, run the fine-tuning "
                        "stages from this exported graph")  # fmt: skip
    parser.add_argument("--first-stage", type=int, default=1, metavar="K",
                        help="fine_faces with --tune-from: start at fine-tuning stage K "
                        "(1-based), the graph being the previous stage's")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    """Train ``args.model``, print its summary table; 2 with a message when it cannot start."""
    try:
        require_torch()
    except TorchMissingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.data.is_dir():
        print(f"error: no data folder at {args.data} (see --data)", file=sys.stderr)
        return 2
    options = {"fresh": args.fresh}
    if args.tune_from is not None:
        if args.model != "fine_faces" or not args.tune_from.is_file():
            print("error: --tune-from needs fine_faces and an ONNX file", file=sys.stderr)
            return 2
        options["start"] = args.tune_from
        options["first"] = args.first_stage
    recipe = importlib.import_module(f"rosto.training.{args.model}")
    print(recipe.train(args.data, args.out, **options))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rosto.training", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
