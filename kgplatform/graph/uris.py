"""Secrets out of printed addresses: ``mask_uri`` hides the userinfo (``user:password@``) of a URI, and ``Redactor``
removes a URI's password (and a separately given one) from any message, e.g. a driver's error that quotes the URI.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
MIN_REDACTED = 4  # a shorter password given apart from the URI is not searched for in messages (too many false hits)


def _split(uri: str) -> tuple[str, str | None, str]:
    """(scheme://, userinfo or None, the rest). The userinfo ends at the LAST '@': passwords often hold an
    unencoded '@', '/', '?' or '#', which would end the authority early; hiding too much beats showing a secret."""
    m = _SCHEME.match(uri)
    prefix = m.group(0) if m else ""
    rest = uri[len(prefix):]
    userinfo, at, host = rest.rpartition("@")
    return (prefix, userinfo, host) if at else (prefix, None, rest)


def mask_uri(uri: str | None) -> str | None:
    """The URI with its userinfo replaced by '***': ``neo4j://user:pw@host:7687`` -> ``neo4j://***@host:7687``.
    Never raises (any string is accepted: this runs while reporting errors)."""
    if not uri:
        return uri
    prefix, userinfo, host = _split(uri)
    return uri if userinfo is None else f"{prefix}{MASK}@{host}"


def uri_secrets(uri: str | None) -> list[str]:
    """The secret parts of a URI's userinfo, as written and percent-decoded: the whole userinfo and its password."""
    if not uri:
        return []
    userinfo = _split(uri)[1]
    if not userinfo:
        return []
    password = userinfo.partition(":")[2]
    found = {userinfo, unquote(userinfo), password, unquote(password)}
    return sorted((s for s in found if s), key=len, reverse=True)


class Redactor:
    """Replaces a URI (by its masked form) and every secret in it, plus ``extra`` secrets, in a message."""

    def __init__(self, uri: str | None, *extra: str | None):
        self.uri = uri or ""
        self.masked = mask_uri(uri) or ""
        self.secrets = uri_secrets(uri) + sorted((s for s in extra if s and len(s) >= MIN_REDACTED), key=len,
                                                 reverse=True)

    def __call__(self, text: object) -> str:
        text = str(text)
        if self.uri:
            text = text.replace(self.uri, self.masked)
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text
