"""`rosto serve | tokens | analyze | batch | train`: run the service, manage its tokens, analyse
photos or whole collections, train Rosto's own models."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rosto import __version__
from rosto.config import Settings, add_arguments
from rosto.errors import RostoError
from rosto.tokens import TokenStore
from rosto.training import __main__ as training

_DB_OPTIONS = ("data_dir", "database_url")


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except RostoError as err:
        print(f"rosto: {err.message}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rosto", description="Self-hosted face attribute analysis (the Rosto.io API)."
    )
    parser.add_argument("--version", action="version", version=f"rosto {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the HTTP API")
    add_arguments(serve)
    serve.set_defaults(run=_serve)

    tokens = commands.add_parser("tokens", help="create, list or revoke API tokens")
    add_arguments(tokens, _DB_OPTIONS)
    actions = tokens.add_subparsers(required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a token and print it (shown once)")
    create.add_argument("--name", default="", help="a label, e.g. who uses the token")
    create.add_argument(
        "--rate-limit",
        type=int,
        default=None,
        metavar="N",
        help="requests per minute for this token (default: the server's --rate-limit)",
    )
    create.set_defaults(run=_tokens_create)
    actions.add_parser("list", help="list tokens and their usage").set_defaults(run=_tokens_list)
    revoke = actions.add_parser("revoke", help="revoke a token by its id (see list)")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(run=_tokens_revoke)

    analyze = commands.add_parser(
        "analyze",
        help="analyse photos locally and print the API's JSON (one line per photo "
        "when there are several)",
    )
    analyze.add_argument("photos", nargs="+", metavar="PHOTO")
    analyze.add_argument(
        "--features", default=None, help="comma-separated feature names (default: all)"
    )
    analyze.add_argument(
        "--draw",
        type=Path,
        metavar="OUT.png",
        help="also write the photo with boxes, landmarks and labels drawn (one photo only)",
    )
    add_arguments(analyze, ("max_pixels", "model_threads"))
    analyze.set_defaults(run=_analyze)

    batch = commands.add_parser(
        "batch",
        help="analyse a whole collection (files, folders, globs, lists of paths or URLs) into "
        "JSON Lines, CSV or Parquet, on several processes or a Ray cluster; resumable",
    )
    batch.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="a photo, a folder (recursive), a glob, or a .txt/.csv list of paths or URLs",
    )
    batch.add_argument(
        "--output",
        "-o",
        type=Path,
        required=True,
        metavar="FILE",
        help="FILE.jsonl: one record per photo; FILE.csv or FILE.parquet: one row per face "
        "(with FILE.jsonl beside it). A rerun skips the photos already there",
    )
    batch.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: the cores), or Ray actors (default: the cluster's CPUs)",
    )
    batch.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run on Ray: the cluster at ADDRESS (e.g. auto, or HOST:6379), else the one "
        "RAY_ADDRESS names, else a new one on this machine (needs rosto[ray])",
    )
    batch.add_argument(
        "--features", default=None, help="comma-separated feature names (default: all)"
    )
    add_arguments(batch, ("max_pixels", "model_threads", "allow_private_urls", "disabled_features"))
    batch.set_defaults(run=_batch)

    train = commands.add_parser(
        "train", help="train one of our own models (age_gender, emotion, ethnicity, fine_faces, "
        "glasses, hair, smile) from the labelled data (needs the train extra: PyTorch)",
    )  # fmt: skip
    training.add_arguments(train)
    train.set_defaults(run=training.run)
    return parser


def _store(args: argparse.Namespace) -> TokenStore:
    return TokenStore(Settings.from_args(args).db_url)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn  # here, not above: `rosto tokens` should start fast

    settings = Settings.from_args(args)
    store = TokenStore(settings.db_url)
    if store.count() == 0:
        _, token = store.create("first token")
        print(
            "\nNo API token existed, so Rosto created one. It is shown only this once:\n\n"
            f"    {token}\n\n"
            f"Try it:  curl -H 'Authorization: Token token=\"{token}\"' -F features=age "
            f"-F image=@photo.jpg http://{settings.host}:{settings.port}/api/v1/features\n"
            "More tokens: rosto tokens create --name NAME\n",
            flush=True,
        )
    store.engine.dispose()
    os.environ.update(settings.to_env())  # how the settings reach the app in every worker
    uvicorn.run(
        "rosto.server.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        http="rosto.server.protocol:RostoH11Protocol",  # JSON 400s, stalled clients closed
    )
    return 0


def _tokens_create(args: argparse.Namespace) -> int:
    info, token = _store(args).create(args.name, args.rate_limit)
    print(f"created token {info.id}{f' ({info.name})' if info.name else ''}; shown only once:")
    print(token)
    return 0


def _tokens_list(args: argparse.Namespace) -> int:
    print(f"{'id':>4}  {'created (UTC)':19}  {'state':7}  {'uses':>8}  {'limit/min':>9}  name")
    for t in _store(args).list():
        limit = "default" if t.rate_limit is None else str(t.rate_limit)
        state = "revoked" if t.revoked else "active"
        created = t.created_at.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{t.id:>4}  {created}  {state:7}  {t.usage_count:>8}  {limit:>9}  {t.name}")
    return 0


def _tokens_revoke(args: argparse.Namespace) -> int:
    if not _store(args).revoke(args.id):
        print(f"rosto: no token with id {args.id} (see `rosto tokens list`)", file=sys.stderr)
        return 1
    print(f"revoked token {args.id}")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from PIL import Image  # here, not above: only this command needs the models

    from rosto import models
    from rosto.draw import draw
    from rosto.features import resolve
    from rosto.imageio import decode
    from rosto.pipeline import analyze

    if args.draw is not None and len(args.photos) > 1:
        print("rosto: --draw takes one photo", file=sys.stderr)
        return 2
    settings = Settings.from_args(args)
    models.set_threads(settings.model_threads)
    names = resolve(args.features, settings.disabled)
    bounds_for_drawing = args.draw is not None and "bounds" not in names
    computed = [*names, "bounds"] if bounds_for_drawing else names
    status = 0
    for photo in args.photos:
        try:
            image = decode(Path(photo).read_bytes(), settings.max_pixels, max_bytes=None)
            faces = analyze(image, computed)
        except (RostoError, OSError) as err:
            message = err.message if isinstance(err, RostoError) else str(err)
            print(f"rosto: {photo}: {message}", file=sys.stderr)
            status = 1
            continue
        if args.draw is not None:
            Image.fromarray(draw(image, faces)).save(args.draw)
        if bounds_for_drawing:
            for face in faces:
                del face["bounds"]
        response = {"faces": faces}
        print(json.dumps(response, indent=2) if len(args.photos) == 1 else json.dumps(response))
    return status


def _batch(args: argparse.Namespace) -> int:
    from rosto.batch.records import Job
    from rosto.batch.run import default_threads, run
    from rosto.features import resolve

    if args.ray is not None and args.ray and Path(args.ray).exists():
        args.inputs.insert(0, args.ray)  # `--ray photos/`: a path, not an address
        args.ray = ""
    if args.workers is not None and args.workers < 1:
        print("rosto: --workers must be at least 1", file=sys.stderr)
        return 2
    settings = Settings.from_args(args)
    threads = settings.model_threads
    if threads <= 0:
        threads = 1 if args.ray is not None else default_threads(args.workers or os.cpu_count())
    job = Job(
        features=tuple(resolve(args.features, settings.disabled)),
        max_pixels=settings.max_pixels,
        allow_private_urls=settings.allow_private_urls,
        model_threads=threads,
    )
    summary = run(args.inputs, args.output, job, workers=args.workers, ray_address=args.ray)
    print(f"rosto: {summary.text()}", file=sys.stderr)
    return 130 if summary.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
