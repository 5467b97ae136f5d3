"""The token store: hashed storage, revocation, usage counts, and the shared rate-limit window."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest
import sqlalchemy as sa

from rosto.errors import RetryLater, RostoError
from rosto.tokens import TOKEN_PREFIX, TokenStore


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    """SQLite always; Postgres too when ROSTO_TEST_POSTGRES_URL names a scratch database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rosto.db'}"
    url = os.environ.get("ROSTO_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("set ROSTO_TEST_POSTGRES_URL=postgresql+psycopg://... to test on Postgres")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS tokens"))
    engine.dispose()
    return url


@pytest.fixture
def store(db_url) -> TokenStore:
    return TokenStore(db_url)


def test_tokens_are_random_and_stored_only_as_hashes(store, db_url):
    info, token = store.create("alice")
    _, other = store.create("bob")
    assert token.startswith(TOKEN_PREFIX) and len(token) >= len(TOKEN_PREFIX) + 43  # 256 bits
    assert token != other
    with sa.create_engine(db_url).connect() as conn:
        rows = [tuple(map(str, row)) for row in conn.execute(sa.text("SELECT * FROM tokens"))]
    assert not any(token in value for row in rows for value in row)
    assert any(hashlib.sha256(token.encode()).hexdigest() in row for row in rows)
    assert (info.name, info.revoked, info.usage_count, info.rate_limit) == ("alice", False, 0, None)


def test_authenticate(store):
    info, token = store.create("alice")
    assert store.authenticate(token).id == info.id
    for wrong in ("", token + "x", TOKEN_PREFIX + "guess"):
        with pytest.raises(RostoError) as caught:
            store.authenticate(wrong)
        assert (caught.value.status, caught.value.code) == (401, "unauthorized")


def test_revoked_tokens_are_refused(store):
    info, token = store.create()
    assert store.revoke(info.id)
    with pytest.raises(RostoError, match="revoked"):
        store.authenticate(token)
    assert not store.revoke(info.id + 100)
    assert [t.revoked for t in store.list()] == [True]


def test_usage_is_counted(store):
    first, _ = store.create("first")
    second, _ = store.create("second")
    store.record_use(second.id)
    store.record_use(second.id)
    assert [(t.name, t.usage_count) for t in store.list()] == [("first", 0), ("second", 2)]
    assert store.count() == 2


def test_rate_limit_per_minute_window(store):
    info, _ = store.create(rate_limit=2)
    store.check_rate(info, 0, now=600.0)
    store.check_rate(info, 0, now=630.0)
    with pytest.raises(RetryLater) as caught:
        store.check_rate(info, 0, now=645.5)
    err = caught.value
    assert (err.status, err.code, err.retry_after) == (429, "rate_limited", 15)
    assert "2 requests per minute" in err.message
    store.check_rate(info, 0, now=660.0)  # a new window


def test_server_default_limit_applies_to_tokens_without_their_own(store):
    plain, _ = store.create()
    own, _ = store.create(rate_limit=3)
    store.check_rate(plain, 1, now=0.0)
    with pytest.raises(RetryLater):
        store.check_rate(plain, 1, now=1.0)
    for second in range(3):
        store.check_rate(own, 1, now=float(second))  # its own limit wins over the default
    unlimited, _ = store.create(rate_limit=0)
    for second in range(50):
        store.check_rate(unlimited, 1, now=float(second))


def test_stores_on_one_database_share_all_state(store, db_url):
    """Stateless workers: two processes' stores on one database see one window and one count."""
    info, token = store.create(rate_limit=10)
    other = TokenStore(db_url)
    assert other.authenticate(token).id == info.id
    passed, refused = [], []

    def client(s: TokenStore) -> None:
        for _ in range(5):
            try:
                s.check_rate(info, 0, now=1200.0)
                passed.append(1)
            except RetryLater:
                refused.append(1)

    threads = [threading.Thread(target=client, args=(s,)) for s in (store, other) * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(passed), len(refused)) == (10, 20)
