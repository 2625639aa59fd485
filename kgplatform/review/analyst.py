"""Declared parameters of the analyst Cypher library (cypher/analyst/*.cypher) and of any statement file.

A statement file may declare its parameters in its header comment, one per line:

    // @param NAME: TYPE [= DEFAULT] -- what it means

TYPE is one of string, int, float, bool, list, map, any. DEFAULT is a JSON value (null, 0.5, 'Product' or "Product",
[]); a parameter without a default is required. `kgp cypher --file NAME --param k=v` uses the declaration to fill in
defaults, to refuse unknown or missing parameters with the list of what the statement takes, and to coerce values
(`--param id=123` stays the string "123" when `id` is declared a string; `--param limit=10.0` becomes the int 10).
Statements without declarations take their parameters as given.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from kgplatform.errors import KgpError
from kgplatform.graph import cypher_files

TYPES = ("string", "int", "float", "bool", "list", "map", "any")
_DECL = re.compile(r"^@param\s+(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*:\s*(?P<type>[a-z]+)"
                   r"(?:\s*=\s*(?P<default>.+?))?\s+--\s+(?P<doc>.+)$")
_MISSING = object()


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any = _MISSING
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    def describe(self) -> str:
        default = "required" if self.required else f"default {json.dumps(self.default)}"
        return f"${self.name} ({self.type}, {default}): {self.doc}"


def _parse_default(text: str, where: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise KgpError(f"{where}: default {text!r} is not a JSON value") from exc


def declared_params(name: str) -> dict[str, Param]:
    """The @param declarations of cypher/NAME.cypher, in file order (empty when it declares none)."""
    out: dict[str, Param] = {}
    for line in cypher_files.header(name).splitlines():
        line = line.strip()
        if not line.startswith("@param"):
            continue
        m = _DECL.match(line)
        if not m:
            raise KgpError(f"cypher/{name}.cypher: malformed declaration {line!r}; expected "
                           f"'@param NAME: TYPE [= DEFAULT] -- description'")
        if m["type"] not in TYPES:
            raise KgpError(f"cypher/{name}.cypher: parameter ${m['name']} has unknown type {m['type']!r} "
                           f"(one of {', '.join(TYPES)})")
        default = _MISSING if m["default"] is None else _parse_default(m["default"], f"cypher/{name}.cypher")
        out[m["name"]] = Param(m["name"], m["type"], default, m["doc"].strip())
    return out


def used_params(text: str) -> set[str]:
    """The $parameters a statement text uses (string literals and comments are not stripped: keep `$` out of them)."""
    return set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", text))


def _coerce(param: Param, value: Any) -> Any:
    if value is None or param.type == "any":
        return value
    kind, name = param.type, f"${param.name}"
    if kind == "string":
        if isinstance(value, (dict, list)):
            raise KgpError(f"{name} must be a string, got {json.dumps(value)}")
        return value if isinstance(value, str) else json.dumps(value)  # --param id=123 -> "123"
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise KgpError(f"{name} must be true or false, got {value!r}")
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or float(value) != int(value):
            raise KgpError(f"{name} must be an integer, got {value!r}")
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise KgpError(f"{name} must be a number, got {value!r}")
        return float(value)
    if kind == "list":
        if not isinstance(value, list):
            raise KgpError(f"{name} must be a JSON list such as '[\"A\", \"B\"]', got {value!r}")
        return value
    if not isinstance(value, dict):  # map
        raise KgpError(f"{name} must be a JSON object, got {value!r}")
    return value


def prepare_params(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """Given parameters checked against the statement's declarations, with defaults filled in."""
    declared = declared_params(name)
    if not declared:
        return dict(given)
    takes = "; ".join(p.describe() for p in declared.values())
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise KgpError(f"{name} takes no parameter {', '.join('$' + u for u in unknown)}; it takes: {takes}")
    missing = [p.name for p in declared.values() if p.required and p.name not in given]
    if missing:
        raise KgpError(f"{name} needs {', '.join('$' + m for m in missing)} (--param NAME=VALUE); it takes: {takes}")
    return {p.name: _coerce(p, given[p.name]) if p.name in given else p.default for p in declared.values()}


def analyst_queries() -> list[str]:
    """Names of the analyst library's statements, e.g. 'analyst/proposed_edges'."""
    return cypher_files.statement_names("analyst")


def execute_analyst(store, name: str, **params: Any) -> list[dict]:
    """Run one library query read-only; `name` may omit the 'analyst/' prefix."""
    if "/" not in name:
        name = f"analyst/{name}"
    text = cypher_files.render(name)
    return store.query(text, prepare_params(name, params), read_only=True)
