"""The ``Authorization`` header of API.md → a checked, rate-counted token record."""

from __future__ import annotations

import re

from rosto.errors import RostoError
from rosto.tokens import TokenInfo, TokenStore

# Rails' token format (quoted, as curl sends it, or not, as the Python example does; options
# may follow after a comma), and the usual Bearer form.
_TOKEN_SCHEME = re.compile(r'^\s*Token\s+token\s*=\s*(?:"([^"]+)"|([^\s,"]+))', re.IGNORECASE)
_BEARER_SCHEME = re.compile(r"^\s*Bearer\s+(\S+)\s*$", re.IGNORECASE)
_HOW = 'send `Authorization: Token token="YOUR_TOKEN"` (create one with `rosto tokens create`)'


def token_from_header(header: str | None) -> str:
    """The token of an ``Authorization`` header; 401 ``unauthorized`` if absent or malformed."""
    if not header:
        raise RostoError(f"missing Authorization header: {_HOW}", code="unauthorized", status=401)
    match = _TOKEN_SCHEME.match(header) or _BEARER_SCHEME.match(header)
    if match is None:
        raise RostoError(f"malformed Authorization header: {_HOW}", code="unauthorized", status=401)
    return next(group for group in match.groups() if group)


def authorize(store: TokenStore, header: str | None, default_rate_limit: int) -> TokenInfo:
    """Authenticate the header's token and count the request against its rate limit."""
    info = store.authenticate(token_from_header(header))
    store.check_rate(info, default_rate_limit)
    return info
