"""Text normalisation and node names, shared by entity linking (text/) and the mention feature (learn/).

NFKC, lower case, every run of non-alphanumeric characters as one space; a node's name is its text before the
first '. '. Names that cannot be told apart from ordinary text (too short, only digits, only common words) are
rejected, so they never mark a mention.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

MIN_CHARS = 3
ASCII_WORD = re.compile(r"[A-Za-z0-9]+")  # str.isalnum() on ASCII
MAX_TEXT_CHARS = 20000  # a product text longer than this is matched on its first MAX_TEXT_CHARS characters

# Names that are only these words are too common to mark a mention (a brand called "The" or "Gift", a category
# called "Other"). Kept short on purpose: domain words ("magazine", "card") stay, so "Gift Cards" is still matched.
COMMON_WORDS = frozenset("""
a an and are as at be by for from has have in is it its of on or that the this to was with you your our we
new all more other others one two three misc miscellaneous general none unknown na n a not available
""".split())


def node_text(name: str | None, description: str | None) -> str:
    """The text a node is embedded from: its name, then its description."""
    name, description = (name or "").strip(), (description or "").strip()
    return f"{name}. {description}" if name and description else name or description


def name_of(node_text: str) -> str:
    """A node's name: its text before the first '. ' (node_text writes 'name. description')."""
    cut = node_text.find(". ")
    return node_text if cut < 0 else node_text[:cut]


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """(normalised text, offset into ``text`` of each normalised character).

    NFKC per character, lower case, runs of anything not alphanumeric collapsed into one space; no leading or
    trailing space. A character whose lower case is longer (e.g. 'İ') maps all of its characters to one offset.
    ASCII text (NFKC leaves it as it is) takes a regex fast path with the same result.
    """
    out: list[str] = []
    offsets: list[int] = []
    if text.isascii():
        end = 0  # the previous word's end: the first character of the separators before this word
        for m in ASCII_WORD.finditer(text):
            if out:
                out.append(" ")
                offsets.append(end)
            out.append(m.group().lower())
            end = m.end()
            offsets.extend(range(m.start(), end))
        return "".join(out), offsets
    for i, ch in enumerate(text):
        folded = unicodedata.normalize("NFKC", ch).lower()
        for c in folded:
            if c.isalnum():
                out.append(c)
                offsets.append(i)
            elif out and out[-1] != " ":
                out.append(" ")
                offsets.append(i)
    if out and out[-1] == " ":
        out.pop()
        offsets.pop()
    return "".join(out), offsets


def normalize(text: str) -> str:
    return normalize_with_offsets(text)[0]


@lru_cache(maxsize=1 << 17)
def name_entry(name: str, min_chars: int = MIN_CHARS) -> tuple[str, str | None]:
    """(normalised name, name_rejection of it), memoised: the pipeline builds a matcher per relation and call,
    and where relations share one range (wn18rr: 41k synsets) the same names would be normalised each time."""
    norm = normalize(name)
    return norm, name_rejection(norm, min_chars)


def name_rejection(normalized: str, min_chars: int = MIN_CHARS) -> str | None:
    """Why a normalised name cannot be matched in free text, or None when it can."""
    if len(normalized.replace(" ", "")) < min_chars:
        return "too short"
    tokens = normalized.split()
    if all(t.isdigit() for t in tokens):
        return "only digits"
    if all(t in COMMON_WORDS for t in tokens):
        return "only common words"
    return None
