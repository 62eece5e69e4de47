"""Keeping secrets out of output: URL masking and text redaction.

A URL carries a password in two places: its userinfo (`http://user:PASSWORD@host`) and its query string
(`?password=PASSWORD`, which ClickHouse's HTTP interface and libpq both accept). Both are masked, and
masking never fails: a URL that does not parse (a bad port, a stray `/` or `#` in an unquoted password) is
masked as text, conservatively (everything between the user name and the last `@` counts as password).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import SplitResult, unquote, unquote_plus, urlsplit, urlunsplit

MASK = "***"

# Query parameters whose value is a secret (compared case-insensitively).
SECRET_PARAMETERS = frozenset({"password", "sslpassword"})

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<pw>[^@/\s]*)@")
# `?password=...` in free text, up to where a message would go on (a value already masked is left alone)
_QUERY_PASSWORD = re.compile(r"(?P<key>[?&;](?:ssl)?password=)(?!\*\*\*)(?P<pw>[^&#\s'\"),]*)", re.I)


def _parsed(url: str) -> SplitResult | None:
    """The URL split into its parts, or None when it does not parse (a bad or out-of-range port)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return None
    return parts


def _is_secret(piece: str) -> bool:
    return "=" in piece and unquote_plus(piece.split("=", 1)[0]).strip().lower() in SECRET_PARAMETERS


def _mask_query(query: str) -> str:
    return "&".join(p.split("=", 1)[0] + "=" + MASK if _is_secret(p) else p for p in query.split("&"))


def mask_url(url: str) -> str:
    """Return the URL with its password (userinfo and `?password=`) replaced by ***."""
    parts = _parsed(url)
    if parts is None or not parts.scheme:
        return _mask_text_url(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        if ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}"
    query = _mask_query(parts.query) if parts.query else parts.query
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _mask_text_url(url: str) -> str:
    head, sep, rest = url.partition("://")
    if sep and "@" in rest:
        userinfo, host = rest.rsplit("@", 1)
        if ":" in userinfo:
            url = f"{head}://{userinfo.split(':', 1)[0]}:{MASK}@{host}"
    return _QUERY_PASSWORD.sub(lambda m: f"{m['key']}{MASK}", url)


def url_secrets(url: str | None) -> tuple[str, ...]:
    """The passwords a URL carries (userinfo and `?password=`), as written and percent-decoded."""
    if not url:
        return ()
    found: list[str] = []
    parts = _parsed(url)
    if parts is not None and parts.scheme:
        netloc, query = parts.netloc, parts.query
    else:  # as mask_url does: the widest reading of the userinfo
        netloc = url.partition("://")[2].rsplit("@", 1)[0] + "@" if "@" in url else ""
        query = url.split("?", 1)[1] if "?" in url else ""
    if "@" in netloc:
        userinfo = netloc.rsplit("@", 1)[0]
        if ":" in userinfo:
            raw = userinfo.split(":", 1)[1]
            found += [raw, unquote(raw)]
    for piece in query.split("#", 1)[0].split("&"):
        if _is_secret(piece):
            raw = piece.split("=", 1)[1]
            found += [raw, unquote_plus(raw)]
    return tuple(dict.fromkeys(s for s in found if s))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of each secret (and URL passwords) in text by ***."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    return _QUERY_PASSWORD.sub(lambda m: f"{m['key']}{MASK}", text)


def masked_repr(obj: Any) -> str:
    """A dataclass's repr with every URL field masked (fields declared repr=False stay out)."""
    shown = []
    for f in dataclasses.fields(obj):
        if not f.repr:
            continue
        value = getattr(obj, f.name)
        if isinstance(value, str) and f.name.endswith("url"):
            value = mask_url(value)
        shown.append(f"{f.name}={value!r}")
    return f"{type(obj).__name__}({', '.join(shown)})"
