"""API tokens in any SQLAlchemy database: SQLite by default, Postgres for several servers.

Only the sha256 of a token is stored (the token itself is shown once, at creation), so a
leaked database does not leak usable tokens; a token is 256 random bits, so an unsalted hash
is enough. All per-token state — revocation, usage count, the rate-limit window — lives in
the database and is updated with single atomic statements, so any number of stateless worker
processes can share one database.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa

from rosto.errors import RetryLater, RostoError

TOKEN_PREFIX = "rosto_"
WINDOW_SECONDS = 60  # rate limits are requests per minute, counted in fixed windows

_metadata = sa.MetaData()
_tokens = sa.Table(
    "tokens",
    _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
    sa.Column("usage_count", sa.BigInteger, nullable=False, default=0),
    sa.Column("rate_limit", sa.Integer, nullable=True),  # requests/minute; NULL: server default
    sa.Column("window_start", sa.BigInteger, nullable=False, default=0),  # epoch minute
    sa.Column("window_count", sa.Integer, nullable=False, default=0),
)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    name: str
    created_at: datetime
    revoked: bool
    usage_count: int
    rate_limit: int | None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    """The token table of one database; creates the table on first use."""

    def __init__(self, url: str):
        parsed = sa.make_url(url)
        sqlite = parsed.get_backend_name() == "sqlite"
        if sqlite and parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"timeout": 30} if sqlite else {}
        self.engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        if sqlite:
            sa.event.listen(self.engine, "connect", _sqlite_wal)
        _metadata.create_all(self.engine)

    def create(self, name: str = "", rate_limit: int | None = None) -> tuple[TokenInfo, str]:
        """A new token: its record, and the token itself (not stored: show it once)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = {
            "name": name,
            "token_hash": hash_token(token),
            "created_at": datetime.now(timezone.utc).replace(tzinfo=None),
            "revoked": False,
            "usage_count": 0,
            "rate_limit": rate_limit,
        }
        with self.engine.begin() as conn:
            token_id = conn.execute(sa.insert(_tokens).values(**row)).inserted_primary_key[0]
        info = TokenInfo(token_id, name, row["created_at"], False, 0, rate_limit)
        return info, token

    def list(self) -> list[TokenInfo]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(*_INFO_COLUMNS).order_by(_tokens.c.id)).all()
        return [TokenInfo(*row) for row in rows]

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(_tokens)).scalar_one()

    def revoke(self, token_id: int) -> bool:
        """Revoke a token by id; False when there is no such token."""
        with self.engine.begin() as conn:
            result = conn.execute(
                sa.update(_tokens).where(_tokens.c.id == token_id).values(revoked=True)
            )
        return result.rowcount == 1

    def authenticate(self, token: str) -> TokenInfo:
        """The record of a valid, unrevoked token; 401 ``unauthorized`` otherwise."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(*_INFO_COLUMNS).where(_tokens.c.token_hash == hash_token(token))
            ).first()
        if row is None or row.revoked:
            raise RostoError(
                "the token is unknown or revoked: check it, or create one with "
                "`rosto tokens create`",
                code="unauthorized",
                status=401,
            )
        return TokenInfo(*row)

    def check_rate(self, info: TokenInfo, default_limit: int, now: float | None = None) -> None:
        """Count one request in the token's current window; 429 ``rate_limited`` over the limit.

        ``default_limit`` applies to tokens without their own limit; 0 means no limit.
        """
        limit = default_limit if info.rate_limit is None else info.rate_limit
        if limit <= 0:
            return
        now = time.time() if now is None else now
        window = int(now // WINDOW_SECONDS)
        c = _tokens.c
        with self.engine.begin() as conn:
            # One statement: the right-hand sides see the old row, and the row lock (or SQLite's
            # write lock) serialises concurrent requests of the token across processes.
            count = conn.execute(
                sa.update(_tokens)
                .where(c.id == info.id)
                .values(
                    window_count=sa.case((c.window_start == window, c.window_count + 1), else_=1),
                    window_start=window,
                )
                .returning(c.window_count)
            ).scalar_one()
        if count > limit:
            retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
            raise RetryLater(
                f"this token is limited to {limit} requests per minute: retry in {retry_after} s "
                "or ask the operator for a higher limit",
                code="rate_limited",
                status=429,
                retry_after=retry_after,
            )

    def record_use(self, token_id: int) -> None:
        """Count one successful request of the token."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(_tokens)
                .where(_tokens.c.id == token_id)
                .values(usage_count=_tokens.c.usage_count + 1)
            )


_INFO_COLUMNS = (
    _tokens.c.id,
    _tokens.c.name,
    _tokens.c.created_at,
    _tokens.c.revoked,
    _tokens.c.usage_count,
    _tokens.c.rate_limit,
)


def _sqlite_wal(dbapi_connection, _record) -> None:
    """WAL lets readers proceed while a request writes its counters."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
