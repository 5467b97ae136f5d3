"""Server settings: one table of options, read from ``ROSTO_*`` variables and overridden by flags.

The environment is also how settings reach uvicorn's worker processes, which import the app
afresh: ``rosto serve`` exports the resolved settings with ``to_env`` before starting them.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any


def default_data_dir() -> Path:
    """Where the token database lives unless told otherwise (XDG data home)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "rosto"


def _option(help_text: str, default: Any = MISSING, factory: Any = MISSING) -> Any:
    return field(default=default, default_factory=factory, metadata={"help": help_text})


@dataclass(frozen=True)
class Settings:
    host: str = _option("address to listen on (0.0.0.0: every interface)", "127.0.0.1")
    port: int = _option("port to listen on", 8000)
    workers: int = _option("server processes (each loads its own models)", 1)
    model_threads: int = _option("ONNX Runtime threads per model (0: min(CPUs, 4))", 0)
    data_dir: Path = _option("folder of the token database", factory=default_data_dir)
    database_url: str = _option(
        "SQLAlchemy URL of the token database, e.g. postgresql+psycopg://user:pw@host/rosto "
        "(default: SQLite file rosto.db in the data dir)",
        "",
    )
    max_pixels: int = _option("largest image accepted, in pixels (width × height)", 40_000_000)
    rate_limit: int = _option(
        "requests per minute per token, unless the token has its own limit (0: no limit)", 0
    )
    max_concurrent: int = _option(
        "analyses in progress per process before requests are shed with 503 (default: 2 × CPUs)",
        factory=lambda: 2 * (os.cpu_count() or 1),
    )
    allow_private_urls: bool = _option(
        "let url= reach private and loopback addresses (for tests only: unsafe)", False
    )
    fetch_timeout: float = _option(
        "seconds a url= download may take in all, headers and redirects included "
        "(connect: at most 5 s of it, a pause between reads: at most 10 s)",
        20.0,
    )
    client_timeout: float = _option(
        "seconds a client has to send a request's headers, and the longest pause in its body, "
        "before the connection is closed",
        5.0,
    )
    disabled_features: str = _option(
        "comma-separated features this server refuses, e.g. ethnicity,gender", ""
    )

    @property
    def disabled(self) -> frozenset[str]:
        """The feature names of ``disabled_features``."""
        names = self.disabled_features.split(",")
        return frozenset(n.strip().lower() for n in names if n.strip())

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'rosto.db'}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        kinds = _kinds()
        values = {
            name: _parse(name, environ[env_name(name)], kind)
            for name, kind in kinds.items()
            if env_name(name) in environ
        }
        return cls(**values)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        """``ROSTO_*`` variables, overridden by the flags that were given."""
        given = {
            f.name: getattr(args, f.name)
            for f in dataclasses.fields(cls)
            if getattr(args, f.name, None) is not None
        }
        return dataclasses.replace(cls.from_env(), **given)

    def to_env(self) -> dict[str, str]:
        return {env_name(f.name): _format(getattr(self, f.name)) for f in dataclasses.fields(self)}


def env_name(name: str) -> str:
    return f"ROSTO_{name.upper()}"


def add_arguments(parser: argparse.ArgumentParser, names: Iterable[str] | None = None) -> None:
    """Add a ``--flag`` per setting (all, or ``names``); unset flags leave the variable's value."""
    kinds = _kinds()
    for f in dataclasses.fields(Settings):
        if names is not None and f.name not in names:
            continue
        kind = kinds[f.name]
        flag = "--" + f.name.replace("_", "-")
        help_text = f"{f.metadata['help']} [{env_name(f.name)}]"
        if kind is bool:
            parser.add_argument(flag, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(
                flag, type=kind, default=None, metavar=kind.__name__.upper(), help=help_text
            )


def _kinds() -> dict[str, type]:
    """Each setting's type, from its default value (annotations are strings here)."""
    defaults = Settings()
    return {
        f.name: Path if isinstance(value := getattr(defaults, f.name), Path) else type(value)
        for f in dataclasses.fields(Settings)
    }


def _parse(name: str, raw: str, kind: type) -> Any:
    if kind is bool:
        if raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if raw.strip().lower() in ("", "0", "false", "no", "off"):
            return False
        raise ValueError(f"{env_name(name)}={raw!r}: expected true or false")
    if kind is Path:
        return Path(raw).expanduser()
    try:
        return kind(raw)
    except ValueError as exc:
        raise ValueError(f"{env_name(name)}={raw!r}: expected {kind.__name__}") from exc


def _format(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
