"""Small recommendation dataset folders in the shared layout (kg.tsv, items.tsv, interactions_*.tsv, ctr_*.tsv),
written by the behaviour tests: one with integer ids like lastfm-kgcn, one with string ids like
amazon-giftcards-2018-rec."""

from __future__ import annotations

from pathlib import Path

from kgplatform.graph.store import execute

# lastfm-kgcn-like: integer ids, 3-column entities, 2-column interactions, ctr files with sampled negatives.
INT_FILES = {
    "entities.tsv": ["0\tDiary of Dreams\tlastfm-artist:2", "1\tCarpathian Forest\tlastfm-artist:3",
                     "2\tMoi dix Mois\tlastfm-artist:4", "3\t\tm.0abc", "4\tGermany\tm.0345h"],
    "items.tsv": ["0\t0\tDiary of Dreams\tlastfm-artist:2\t", "1\t1\tCarpathian Forest\tlastfm-artist:3\t",
                  "2\t2\tMoi dix Mois\tlastfm-artist:4\tVisual kei band"],
    "relations.tsv": ["0\tmusic.artist.origin", "1\tmusic.artist.genre"],
    "kg.tsv": ["0\t0\t4", "1\t0\t4", "2\t1\t3", "0\t1\t3"],
    "interactions_train.tsv": ["0\t0", "0\t1", "1\t2", "2\t0"],
    "interactions_valid.tsv": ["0\t2", "1\t0"],
    "interactions_test.tsv": ["1\t1", "2\t2"],
    "ctr_train.tsv": ["0\t0\t1", "0\t1\t1", "0\t2\t0", "1\t2\t1", "2\t0\t1", "2\t1\t0"],
    "ctr_valid.tsv": ["0\t2\t1", "0\t1\t0", "1\t0\t1"],
    "ctr_test.tsv": ["1\t1\t1", "2\t2\t1", "1\t2\t0"],
}
INT_COUNTS = {"users": 3, "items": 3, "entities": 5, "kg": 4, "train": 4, "valid": 2, "test": 2, "negatives": 4}

# amazon-giftcards-2018-rec-like: string ids, 5-column entities with types, 4-column interactions (rating, unix s).
STR_FILES = {
    "entities.tsv": ["brand:acme\tAcme\t\tBrand\t", "category:cards\tGift Cards\t\tCategory\tCards of all kinds",
                     "product:A1\tAcme eGift Card\tasin:A1\tProduct\t",
                     "product:B2\tAcme Card in a Tin\tasin:B2\tProduct\t",
                     "product:C3\tOther card (not an item)\tasin:C3\tProduct\t"],
    "items.tsv": ["product:A1\tproduct:A1\tAcme eGift Card\tasin:A1\tDelivered by e-mail",
                  "product:B2\tproduct:B2\tAcme Card in a Tin\tasin:B2\t"],
    "relations.tsv": ["HAS_BRAND\thas brand", "IN_CATEGORY\tin category", "ALSO_BOUGHT\talso bought"],
    "kg.tsv": ["product:A1\tHAS_BRAND\tbrand:acme", "product:B2\tHAS_BRAND\tbrand:acme",
               "product:A1\tIN_CATEGORY\tcategory:cards", "product:A1\tALSO_BOUGHT\tproduct:C3"],
    "interactions_train.tsv": ["user:X\tproduct:A1\t5\t1506902400", "user:Y\tproduct:B2\t4\t1506902400",
                               "user:Y\tproduct:A1\t3\t1495756800"],
    "interactions_valid.tsv": ["user:X\tproduct:B2\t5\t1508371200"],
    "interactions_test.tsv": ["user:X\tproduct:A1\t4\t1518307200"],
}


def write_rec_folder(folder: Path, files: dict[str, list[str]], **changes: list[str] | None) -> Path:
    """The files (name -> lines), with `changes` (file stem -> lines, None to leave the file out) applied."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {**files, **{f"{stem}.tsv": lines for stem, lines in changes.items()}}
    for name, lines in files.items():
        if lines is not None:
            (folder / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return folder


def behaviour_counts(store, types=("INTERACTED", "SAMPLED_NEGATIVE", "PURCHASED", "VIEWED", "RATED")) -> dict:
    """(type, split) -> relationships from people, and 'users' -> the number of User nodes."""
    rows = execute(store, "behaviour/count_behaviour", {"types": list(types)}, read_only=True)
    out = {(r["type"], r["split"]): r["relationships"] for r in rows}
    out["users"] = store.query("MATCH (u:User) RETURN count(u) AS n", read_only=True)[0]["n"]
    return out
