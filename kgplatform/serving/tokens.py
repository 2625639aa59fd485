"""Per-client API tokens: each caller has a name (what the logs say) and a secret token, kept only as its SHA-256.

Clients come from $KGP_HOME/api-clients.json (`kgp api-clients add NAME` creates one and prints its token once)
and from KGP_API_TOKENS ("name=token,name2=token2", for deployments that inject secrets through the environment).
A lookup compares the request's digest with every client's in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from kgplatform.errors import KgpError

CLIENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MIN_TOKEN = 24


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_client_name(name: str) -> str:
    if not CLIENT_NAME.match(name or ""):
        raise KgpError(f"invalid client name {name[:80]!r}: 1-64 letters, digits, '_', '.', '-' (first a letter "
                       "or digit)")
    return name


@dataclass(frozen=True)
class ClientTokens:
    digests: dict[str, str]  # name -> sha256 hex

    def client_of(self, token: str | None) -> str | None:
        """The client's name, or None for a missing or unknown token (every entry is compared: constant time)."""
        if not token or len(token) > 512:
            return None
        wanted, found = digest(token), None
        for name, known in self.digests.items():
            if hmac.compare_digest(wanted, known):
                found = name
        return found


def clients_file(home: Path) -> Path:
    return home / "api-clients.json"


def read_clients(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    try:
        clients = json.loads(path.read_text(encoding="utf-8"))["clients"]
    except (ValueError, KeyError, TypeError) as exc:
        raise KgpError(f"{path}: not an API clients file ({exc}); fix or remove it") from exc
    for name, entry in clients.items():
        check_client_name(name)
        if not re.fullmatch(r"[0-9a-f]{64}", str(entry.get("sha256", ""))):
            raise KgpError(f"{path}: client {name!r} has no valid sha256")
    return clients


def _write_clients(path: Path, clients: dict[str, dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"clients": clients}, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def add_client(path: Path, name: str, *, rotate: bool = False) -> str:
    """A new token for client name (printed once by the caller; only its digest is stored)."""
    clients = read_clients(path)
    if check_client_name(name) in clients and not rotate:
        raise KgpError(f"client {name!r} exists; `--rotate` replaces its token, `kgp api-clients revoke` removes it")
    token = secrets.token_urlsafe(32)
    clients[name] = {"sha256": digest(token), "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    _write_clients(path, clients)
    return token


def revoke_client(path: Path, name: str) -> bool:
    clients = read_clients(path)
    if clients.pop(name, None) is None:
        return False
    _write_clients(path, clients)
    return True


def parse_env_tokens(value: str | None) -> dict[str, str]:
    """KGP_API_TOKENS: 'name=token,...' -> {name: digest}; a malformed entry is an error that names it (never the
    token)."""
    out: dict[str, str] = {}
    for n, part in enumerate(p.strip() for p in (value or "").split(",")):
        if not part:
            continue
        name, sep, token = part.partition("=")
        if not sep or len(token.strip()) < MIN_TOKEN:
            raise KgpError(f"KGP_API_TOKENS entry {n + 1}: expected name=token with a token of at least {MIN_TOKEN} "
                           "characters")
        out[check_client_name(name.strip())] = digest(token.strip())
    return out


def load_tokens(home: Path, env_value: str | None) -> ClientTokens:
    digests = {name: entry["sha256"] for name, entry in read_clients(clients_file(home)).items()}
    digests.update(parse_env_tokens(env_value))
    if not digests:
        raise KgpError("no API clients are configured: create one with `kgp api-clients add NAME` (prints its token "
                       "once) or set KGP_API_TOKENS=name=token")
    return ClientTokens(digests)
