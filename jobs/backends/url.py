"""DATABASE_URL: parsed once, checked at start, and never shown with its password.

The password is kept out of every message this package writes: errors and logs name the
database by `where` (host:port/db) or `redacted` (the URL with `***` for the password), and
the driver gets the parts as separate arguments, so not even its own errors can quote the URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

SCHEMES = ("postgresql", "postgres")
DEFAULT_PORT = 5432
EXAMPLE = "postgresql://user:password@host:5432/database"
# A password with one of / ? # @ : left unencoded makes the URL split in the wrong places, so
# the parser's own messages could quote a piece of it: ours never do.
_ENCODE_HINT = f"expected {EXAMPLE} (percent-encode / ? # @ : in the password, e.g. / as %2F)"


class DatabaseUrlError(ValueError):
    """DATABASE_URL is malformed; the message says what is wrong, never the password."""


@dataclass(frozen=True)
class DatabaseUrl:
    host: str
    port: int
    database: str
    user: str | None
    password: str | None = field(default=None, repr=False)
    ssl: str | None = None  # sslmode=… from the query string (disable, require, ...)

    @property
    def where(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}/{self.database}"

    @property
    def redacted(self) -> str:
        user = self.user or ""
        secret = ":***" if self.password else ""
        at = "@" if user or secret else ""
        return f"postgresql://{user}{secret}{at}{self.where}"

    def __str__(self) -> str:
        return self.redacted


def secret_text(secret: Any) -> str | None:
    """The text of a SecretStr setting; None when unset or blank."""
    if secret is None:
        return None
    return secret.get_secret_value().strip() or None


def parse_database_url(url: str) -> DatabaseUrl:
    """postgresql://user:password@host:port/database[?sslmode=…]; DatabaseUrlError if not."""
    text = url.strip()
    scheme = text.partition("://")[0].lower() if "://" in text else ""
    if scheme not in SCHEMES:
        shown = scheme + "://" if scheme else "no scheme"
        raise DatabaseUrlError(
            f"DATABASE_URL must start with postgresql:// (got {shown}); "
            f"for example {EXAMPLE}, or leave it unset for the embedded SQLite database"
        )
    try:
        parts = urlsplit(text)
        port = parts.port or DEFAULT_PORT
        host = parts.hostname
    except ValueError:  # a port that is not a number, a broken [IPv6] host
        raise DatabaseUrlError(f"DATABASE_URL has a bad host or port; {_ENCODE_HINT}") from None
    if not host:
        raise DatabaseUrlError(f"DATABASE_URL names no host; expected {EXAMPLE}")
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database or "@" in database:
        raise DatabaseUrlError(f"DATABASE_URL names no plain database name; {_ENCODE_HINT}")
    query = parse_qs(parts.query)
    unknown = set(query) - {"sslmode"}
    if unknown:
        raise DatabaseUrlError(
            f"DATABASE_URL has unsupported options {sorted(unknown)}; only sslmode is understood"
        )
    return DatabaseUrl(
        host=host,
        port=port,
        database=database,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        ssl=query["sslmode"][-1] if "sslmode" in query else None,
    )
