"""Parse an interaction log: what people did with which items. Pure: a file in, BehaviourRows or InputError out.

Formats: CSV (.csv) or TSV (.tsv) with a header row, or JSONL (.jsonl / .ndjson), one object per line. Fields:
  user (or user_id), item (or item_id): required; text or an integer. The item is an entity's id.
  type: the behaviour ('purchased', 'add to cart' -> PURCHASED, ADD_TO_CART); INTERACTED when absent.
  timestamp: epoch seconds or milliseconds (a number under 1e11 counts as seconds), or ISO-8601 text (without a
    zone: UTC); stored as epoch ms.
  rating, weight: numbers. review: text. split: train | valid | test.
Any other column or key is refused, so a misspelt one ('timestmap') is not silently dropped. Every problem is
reported as 'file:line: message' and nothing is written; a row repeated in the file (same user, item, type,
timestamp and split) is a problem, since loading would keep only one.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from kgplatform.errors import InputError
from kgplatform.graph.names import REL_TYPE_PATTERN
from kgplatform.ingest.records import MAX_DESCRIPTION, MAX_ID, check_text, strip_bom

DEFAULT_TYPE = "INTERACTED"
NEGATIVE_TYPE = "SAMPLED_NEGATIVE"  # a dataset's sampled negatives: evaluation data, never a behaviour
RESERVED_TYPES = frozenset({"RECOMMENDED", NEGATIVE_TYPE})
SPLITS = ("train", "valid", "test")
FIELDS = ("user", "item", "type", "timestamp", "rating", "weight", "review", "split")
ALIASES = {"user_id": "user", "item_id": "item"}
MS_FROM = 100_000_000_000  # an epoch number at or above this is in ms (1e11 s is the year 5138)
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
LOG_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")
_TYPE_SEPARATORS = re.compile(r"[\s\-]+")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True)
class BehaviourRow:
    """One behaviour relationship to write: (:User {id: user})-[:type]->(:Entity {id: item}). where: 'file:line'."""

    user: str
    item: str
    type: str = DEFAULT_TYPE
    timestamp: int | None = None  # epoch ms
    rating: float | None = None
    weight: float | None = None
    review: str | None = None
    split: str | None = None
    where: str = ""

    @property
    def key(self) -> tuple:
        """What makes a relationship the same one on a rerun (cypher/behaviour/create_behaviour)."""
        return self.user, self.item, self.type, self.timestamp, self.split

    def params(self) -> dict:
        out = asdict(self)
        del out["where"], out["type"]
        return out


def behaviour_type(text: str) -> str:
    """'purchased' -> 'PURCHASED', 'add to cart' -> 'ADD_TO_CART'; ValueError for anything else."""
    name = _TYPE_SEPARATORS.sub("_", text.strip()).upper()
    if not REL_TYPE_PATTERN.fullmatch(name):
        raise ValueError(f"behaviour type {text[:80]!r} is not a name (a letter, then letters, digits, '_', "
                         "spaces or '-'; at most 64)")
    if name in RESERVED_TYPES:
        raise ValueError(f"behaviour type {name!r} is reserved: the platform writes it")
    return name


def epoch_ms(value: object) -> int:
    """A timestamp (epoch s or ms as a number or its text, or ISO-8601 text) as epoch ms; ValueError if it is none."""
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+(\.[0-9]+)?\s*", value):
        value = float(value) if "." in value else int(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"malformed timestamp {value[:40]!r}: expected epoch seconds or ms, or ISO-8601 "
                             "(2024-05-01T12:30:00Z)") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        ms = (moment - _EPOCH) // _MS
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        ms = round(value if abs(value) >= MS_FROM else value * 1000)
    else:
        raise ValueError(f"malformed timestamp {str(value)[:40]!r}: expected epoch seconds or ms, or ISO-8601")
    if not 0 <= ms <= MAX_MS:
        raise ValueError(f"timestamp {str(value)[:40]!r} is outside 1970..9999")
    return int(ms)


def to_number(value: object, what: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{what} {value[:40]!r} is not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} {str(value)[:40]!r} is not a number")
    return float(value)


def _identifier(value: object, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text or an integer, got {type(value).__name__}")
    problem = check_text(value, what, MAX_ID, required=True)
    if problem or "\n" in value or "\r" in value:
        raise ValueError(problem or f"{what} contains a line break (an unterminated quote?)")
    return value


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be text, got {type(value).__name__}")
    problem = check_text(value, what, MAX_DESCRIPTION, required=False)
    if problem:
        raise ValueError(problem)
    return value


def _split(value: object) -> str:
    if value not in SPLITS:
        raise ValueError(f"split {str(value)[:40]!r} is not one of {', '.join(SPLITS)}")
    return value


PARSERS = {"user": lambda v: _identifier(v, "user"), "item": lambda v: _identifier(v, "item"),
           "type": lambda v: behaviour_type(_text(v, "type")), "timestamp": epoch_ms,
           "rating": lambda v: to_number(v, "rating"), "weight": lambda v: to_number(v, "weight"),
           "review": lambda v: _text(v, "review"), "split": _split}


def row_from_fields(fields: dict, where: str, problems: list[str]) -> BehaviourRow | None:
    """One record's fields (canonical names; None or '' = absent) as a row, or None with its problems recorded."""
    values, found = {}, []
    for name in FIELDS:
        value = fields.get(name)
        if value is None or value == "":
            if name in ("user", "item"):
                found.append(f"missing {name}")
            continue
        try:
            values[name] = PARSERS[name](value)
        except ValueError as exc:
            found.append(str(exc))
    problems.extend(f"{where}: {p}" for p in found)
    return None if found else BehaviourRow(**values, where=where)


def _canonical(keys: list[str], where: str, problems: list[str]) -> list[str] | None:
    """Column or key names as FIELDS names; None, with the problem recorded, when one is unknown or repeated."""
    names = [ALIASES.get(k.strip().lower(), k.strip().lower()) for k in keys]
    unknown = [k for k, n in zip(keys, names) if n not in FIELDS]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if unknown:
        problems.append(f"{where}: unknown field {unknown[0][:80]!r} (known: user or user_id, item or item_id, "
                        f"{', '.join(FIELDS[2:])})")
    elif repeated:
        problems.append(f"{where}: field {repeated[0]!r} given twice (as {repeated[0]} and its alias?)")
    return None if unknown or repeated else names


def _delimited(path: Path, delimiter: str, problems: list[str]):
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter, quoting=quoting, strict=True)
        header, start = None, 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                problems.append(f"{path}:{start}: {exc} (an unterminated quote?); the rest was not read")
                return
            where, start = f"{path}:{start}", reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = _canonical(row, where, problems)
                if header is None:
                    return
                if "user" not in header or "item" not in header:
                    problems.append(f"{where}: the header needs a user (or user_id) and an item (or item_id) column")
                    return
            elif len(row) != len(header):
                problems.append(f"{where}: expected {len(header)} fields ({', '.join(header)}), got {len(row)}")
            else:
                yield where, dict(zip(header, row))


def _jsonl(path: Path, problems: list[str]):
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            raw, where = strip_bom(raw) if number == 1 else raw, f"{path}:{number}"
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                problems.append(f"{where}: not a JSON object ({exc})")
                continue
            if not isinstance(obj, dict):
                problems.append(f"{where}: expected a JSON object, got {type(obj).__name__}")
                continue
            names = _canonical(list(obj), where, problems)
            if names is not None:
                yield where, dict(zip(names, obj.values()))


def looks_like_interaction_log(path: Path) -> bool:
    """A single .csv/.tsv file (no other source is one), or JSONL whose first object has a user (or user_id) key."""
    path = Path(path)
    if not path.is_file() or path.suffix.lower() not in LOG_SUFFIXES:
        return False
    if path.suffix.lower() in (".csv", ".tsv"):
        return True
    with path.open("rb") as fh:
        first = next((line for line in fh if line.strip()), b"")
    try:
        obj = json.loads(strip_bom(first).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(obj, dict) and ("user" in obj or "user_id" in obj)


def parse_interaction_log(path: Path) -> list[BehaviourRow]:
    """Every row of the log, validated (module docstring); InputError listing every problem otherwise."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in LOG_SUFFIXES:
        raise InputError(f"{path}: an interaction log is a .csv, .tsv or .jsonl file")
    problems: list[str] = []
    try:
        records = list(_jsonl(path, problems) if suffix in (".jsonl", ".ndjson")
                       else _delimited(path, "\t" if suffix == ".tsv" else ",", problems))
    except UnicodeDecodeError as exc:
        records = []
        problems.append(f"{path}: not UTF-8 ({exc.reason})")
    rows, seen = [], {}
    for where, fields in records:
        row = row_from_fields(fields, where, problems)
        if row is None:
            continue
        if row.key in seen:
            problems.append(f"{where}: duplicate of line {seen[row.key]} (same user, item, type, timestamp and split)")
            continue
        seen[row.key] = where.rsplit(":", 1)[1]
        rows.append(row)
    if not rows and not problems:
        problems.append(f"{path}: no interactions")
    if problems:
        raise InputError(f"{path}: {len(problems)} problem(s); nothing was written", problems)
    return rows
