"""Secrets in URLs never leave fedcat: userinfo and secret-looking query parameters are masked wherever a URL
is shown, stored for display, published in RDF or logged.

A source URL may carry credentials (`https://user:password@host/`, `?apikey=…`): fedcat needs them to fetch,
nobody else should see them. `redact_url` masks one URL, `redact_text` every URL inside a message (HTTP
errors quote the URL they failed on), and `RedactingFilter` does it to every log record. Better still, a
source can take its credentials from the environment (`headers: {Authorization: "${PORTAL_TOKEN}"}` in
sources.yaml), so they are never part of a URL at all.

The parameter names are a list (settings.secret_params adds to it); a name matches whatever its case and
punctuation (`apiKey`, `API-KEY`), and a longer name ending with one of the longer entries matches too
(`client_secret`, `x_auth_token`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit, urlunsplit

MASK = "***"
SECRET_PARAMS = ("apikey", "api_key", "token", "key", "secret", "password", "access_token", "signature")
_names: set[str] = set()
_suffixes: set[str] = set()
# a URL in a message ends before the punctuation that follows it (`{url}: HTTP 404`, `(see {url}).`)
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>`]*[^\s'\"<>`:.,;)\]]")


def _normal(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def add_secret_params(names: Iterable[str]) -> None:
    """More parameter names to mask (process-wide; the list only ever grows)."""
    for name in names:
        normal = _normal(name)
        if normal:
            _names.add(normal)
            if len(normal) >= 5:  # `key` alone would catch `monkey`; `token`, `secret`… are specific enough
                _suffixes.add(normal)


add_secret_params(SECRET_PARAMS)


def is_secret_param(name: str) -> bool:
    normal = _normal(name)
    return normal in _names or any(normal.endswith(suffix) for suffix in _suffixes)


def redact_url(url: str) -> str:
    """The URL with its userinfo and secret query parameters masked (anything not a URL comes back as is)."""
    if not url or ("@" not in url and "=" not in url):
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = "&".join(_redact_pair(pair) for pair in parts.query.split("&")) if parts.query else ""
    return urlunsplit(SplitResult(parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_pair(pair: str) -> str:
    name, equals, value = pair.partition("=")
    return f"{name}={MASK}" if equals and value and is_secret_param(name) else pair


def redact_text(text: str) -> str:
    """Every URL in a free text (an error message, a log line) redacted."""
    if not text or "://" not in text:
        return text
    return _URL.sub(lambda m: redact_url(m[0]), text)


class RedactingFilter(logging.Filter):
    """On a handler: each record's message and traceback are redacted before any formatter sees them."""

    _tracebacks = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._tracebacks.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        return True


def redact_logs(logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of `logger` (default: the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
