"""A small invented product catalog for `kgp demo`: brands, a category tree, products and their links.

Pure and deterministic: `generate_catalog` returns data built from one seeded `random.Random`; `write_dataset`
writes it in the benchmark folder layout (see shared/datasets/README.md). A share of the true links is held back
so the demo can measure how many of them the link predictor recovers.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

Triple = tuple[str, str, str]
PRODUCT_LINKS = ("BOUGHT_TOGETHER", "ALSO_VIEWED")

# department -> [(kind category, noun used in titles, alternative noun, third-level categories)]
TAXONOMY: dict[str, list[tuple[str, str, str, tuple[str, ...]]]] = {
    "Audio": [("Headphones", "headphones", "headset", ("Over-Ear Headphones", "In-Ear Headphones")),
              ("Speakers", "speaker", "sound system", ("Bluetooth Speakers", "Bookshelf Speakers")),
              ("Microphones", "microphone", "mic", ()),
              ("Audio Cables", "audio cable", "cord", ()),
              ("Headphone Cases", "headphone case", "carry pouch", ())],
    "Kitchen": [("Cookware", "pan", "skillet", ("Frying Pans", "Saucepans")),
                ("Kitchen Knives", "knife", "blade", ()),
                ("Cutting Boards", "cutting board", "chopping block", ()),
                ("Coffee Makers", "coffee maker", "brewer", ("Drip Coffee Makers", "Espresso Machines")),
                ("Mugs", "mug", "cup", ())],
    "Outdoor": [("Tents", "tent", "shelter", ("Backpacking Tents", "Family Tents")),
                ("Sleeping Bags", "sleeping bag", "sleep sack", ()),
                ("Backpacks", "backpack", "pack", ("Daypacks", "Hiking Backpacks")),
                ("Water Bottles", "water bottle", "flask", ()),
                ("Camp Stoves", "camp stove", "burner", ())],
    "Beauty": [("Shampoo", "shampoo", "hair wash", ()),
               ("Conditioner", "conditioner", "hair rinse", ()),
               ("Face Serums", "face serum", "facial oil", ()),
               ("Moisturizers", "moisturizer", "face cream", ("Day Creams", "Night Creams")),
               ("Nail Polish", "nail polish", "nail lacquer", ())],
    "Office": [("Notebooks", "notebook", "journal", ("Lined Notebooks", "Dotted Notebooks")),
               ("Pens", "pen", "writer", ("Gel Pens", "Fountain Pens")),
               ("Desk Lamps", "desk lamp", "task light", ()),
               ("Desk Organizers", "desk organizer", "caddy", ()),
               ("Staplers", "stapler", "binder", ())],
    "Toys": [("Building Blocks", "block set", "construction kit", ()),
             ("Board Games", "board game", "family game", ()),
             ("Puzzles", "puzzle", "jigsaw", ("Jigsaw Puzzles", "3D Puzzles")),
             ("Dolls", "doll", "figure", ()),
             ("Toy Cars", "toy car", "racer", ())],
}
# Kinds people buy together (either direction); every kind has at least one partner.
COMPLEMENTS = [("Headphones", "Headphone Cases"), ("Headphones", "Audio Cables"), ("Speakers", "Audio Cables"),
               ("Microphones", "Audio Cables"), ("Cookware", "Cutting Boards"), ("Kitchen Knives", "Cutting Boards"),
               ("Coffee Makers", "Mugs"), ("Tents", "Sleeping Bags"), ("Backpacks", "Water Bottles"),
               ("Camp Stoves", "Water Bottles"), ("Shampoo", "Conditioner"), ("Face Serums", "Moisturizers"),
               ("Nail Polish", "Moisturizers"), ("Notebooks", "Pens"), ("Desk Lamps", "Desk Organizers"),
               ("Staplers", "Desk Organizers"), ("Building Blocks", "Toy Cars"), ("Board Games", "Puzzles"),
               ("Dolls", "Toy Cars")]
# Invented names, seven per department (the department of a brand is where it sells most).
BRANDS = {
    "Audio": ["Sonavel", "Echolith", "Brightwave Acoustics", "Humlane", "Tessaro Sound", "Quietfen", "Vellum Audio"],
    "Kitchen": ["Copperleaf", "Marrowby", "Saltgrove", "Kettlewick", "Brisa Home", "Ovenbird Works", "Tinderfork"],
    "Outdoor": ["Ridgecairn", "Northmoss", "Cairnway", "Fernhollow", "Summitra", "Lakeholt", "Wildaster"],
    "Beauty": ["Luminelle", "Petalgrove", "Sorrel & Sage", "Veloura", "Dewmist", "Aurelie Skin", "Calmbrook"],
    "Office": ["Inkwell Row", "Paperlane", "Deskwright", "Quillmark", "Ledgerly", "Graphite Lane", "Notara"],
    "Toys": ["Pebblepop", "Tinker Tots", "Wobblewood", "Kitebright", "Puzzlefox", "Marblemoon", "Dandelion Play"],
}
STYLE = {  # department -> (adjectives, sizes): attribute words that vary the text without naming brand or kind
    "Audio": (["wireless", "wired", "noise-cancelling", "compact", "studio"], ["small", "standard", "large"]),
    "Kitchen": (["nonstick", "stainless", "cast-iron", "ceramic", "bamboo"], ["20 cm", "24 cm", "28 cm", "1.5 L"]),
    "Outdoor": (["ultralight", "waterproof", "insulated", "rugged", "packable"], ["1-person", "2-person", "30 L"]),
    "Beauty": (["fragrance-free", "hydrating", "vegan", "gentle", "nourishing"], ["50 ml", "100 ml", "250 ml"]),
    "Office": (["refillable", "recycled", "ergonomic", "slim", "heavy-duty"], ["A5", "A4", "pocket", "desk"]),
    "Toys": (["wooden", "colourful", "educational", "classic", "magnetic"], ["ages 3+", "ages 6+", "ages 8+"]),
}
COLOURS = ["black", "white", "slate grey", "navy", "forest green", "coral", "sand", "burgundy", "sky blue", "mustard"]


@dataclass(frozen=True)
class Entity:
    id: str
    name: str
    description: str
    type: str  # "Brand" | "Category" | "Product"


@dataclass
class Catalog:
    entities: list[Entity]
    triples: list[Triple]  # loaded into the graph
    held_back: list[Triple] = field(default_factory=list)  # true links kept out, to score recovery


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _categories() -> tuple[list[Entity], list[Triple], dict[str, list[str]]]:
    """Department -> kind -> optional third level. Returns entities, SUBCATEGORY_OF edges, kind -> leaf ids."""
    entities, edges, leaves = [], [], {}
    for dept, kinds in TAXONOMY.items():
        dept_id = f"category:{slug(dept)}"
        entities.append(Entity(dept_id, dept, f"Department: {dept}.", "Category"))
        for kind, noun, _alt, subs in kinds:
            kind_id = f"category:{slug(kind)}"
            entities.append(Entity(kind_id, kind, f"{kind} in the {dept} department.", "Category"))
            edges.append((kind_id, "SUBCATEGORY_OF", dept_id))
            leaves[kind] = [kind_id]
            if subs:
                leaves[kind] = [f"category:{slug(s)}" for s in subs]
                for sub, sub_id in zip(subs, leaves[kind]):
                    entities.append(Entity(sub_id, sub, f"{sub}: a kind of {noun} ({dept} > {kind}).", "Category"))
                    edges.append((sub_id, "SUBCATEGORY_OF", kind_id))
    assert len({e.id for e in entities}) == len(entities), "category slugs must be unique"
    return entities, edges, leaves


def _brands(rng: random.Random) -> tuple[list[Entity], dict[str, list[str]]]:
    """Each brand makes 2-4 kinds of its department; some also one kind elsewhere, so brand != department."""
    entities, makes = [], {}
    depts = list(TAXONOMY)
    for dept, names in BRANDS.items():
        for name in names:
            kinds = rng.sample([k[0] for k in TAXONOMY[dept]], rng.randint(2, 4))
            if rng.random() < 0.25:
                other = rng.choice([d for d in depts if d != dept])
                kinds.append(rng.choice(TAXONOMY[other])[0])
            brand_id = f"brand:{slug(name)}"
            makes[brand_id] = kinds
            desc = f"{name}, a brand from the {dept} department, makes {', '.join(k.lower() for k in kinds)}."
            entities.append(Entity(brand_id, name, desc, "Brand"))
    return entities, makes


def _product_text(rng: random.Random, brand: str, dept: str, kind: tuple, leaf: str) -> tuple[str, str]:
    """Title and description. The brand is named as written (65%), in lowercase or by its first word (12%) or
    not at all (23%), so text alone cannot solve HAS_BRAND; the kind noun is sometimes an alternative word,
    and a third-level category is named only half the time (the graph has to tell the rest)."""
    _kind, noun, alt, subs = kind
    adjectives, sizes = STYLE[dept]
    adj, size, colour = rng.choice(adjectives), rng.choice(sizes), rng.choice(COLOURS)
    model = f"{rng.choice('ABCDEFGHKLMRSTVX')}{rng.randint(10, 990)}"
    what = noun if rng.random() < 0.75 else alt
    r = rng.random()
    shown = brand if r < 0.65 else brand.lower() if r < 0.71 else brand.split()[0] if r < 0.77 else ""
    if shown:
        title = rng.choice([f"{shown} {model} {adj} {what} - {colour}",
                            f"{adj.capitalize()} {what} by {shown}, {size}",
                            f"{shown} {what} {model} ({colour}, {size})",
                            f"{shown} {adj} {what}"])
        lead = rng.choice([f"From {shown}: a", f"The {shown}", "A"])
    else:
        title = rng.choice([f"{adj.capitalize()} {what} {model} - {colour}",
                            f"{what.capitalize()} {model}, {adj}, {size}",
                            f"{colour.capitalize()} {adj} {what}"])
        lead = "A"
    desc = (f"{lead} {adj} {what} in {colour}. Size: {size}. "
            + rng.choice(["Built to last.", "Easy to clean.", "Great as a gift.", "Backed by a two-year warranty."]))
    if subs and rng.random() < 0.5:
        desc += f" Type: {leaf}."
    return title, desc


def _product_links(rng: random.Random, products: list[tuple[str, str, str, str]]) -> list[Triple]:
    """BOUGHT_TOGETHER between complementary kinds (favouring the same brand); ALSO_VIEWED within a kind
    (favouring the same leaf category). Each unordered pair is linked at most once per relation."""
    by_kind, by_brand_kind, by_leaf = defaultdict(list), defaultdict(list), defaultdict(list)
    for pid, brand, kind, leaf in products:
        by_kind[kind].append(pid)
        by_brand_kind[brand, kind].append(pid)
        by_leaf[leaf].append(pid)
    partners = defaultdict(list)
    for a, b in COMPLEMENTS:
        partners[a].append(b)
        partners[b].append(a)
    links, seen = [], set()

    def add(rel: str, a: str, b: str) -> None:
        if a != b and (rel, a, b) not in seen and (rel, b, a) not in seen:
            seen.add((rel, a, b))
            links.append((a, rel, b))

    for pid, brand, kind, leaf in products:
        for _ in range(rng.choice([0, 1, 1, 2, 2, 3])):
            other = rng.choice(partners[kind])
            same_brand = by_brand_kind.get((brand, other))
            pool = same_brand if same_brand and rng.random() < 0.6 else by_kind.get(other)
            if pool:
                add("BOUGHT_TOGETHER", pid, rng.choice(pool))
        for _ in range(rng.choice([1, 1, 2, 3])):
            add("ALSO_VIEWED", pid, rng.choice(by_leaf[leaf] if rng.random() < 0.7 else by_kind[kind]))
    return links


def generate_catalog(seed: int = 7, n_products: int = 600, held_back_ratio: float = 0.15,
                     link_held_back_ratio: float = 0.10) -> Catalog:
    """Build the catalog. `held_back_ratio` applies to HAS_BRAND and IN_CATEGORY each, `link_held_back_ratio`
    to BOUGHT_TOGETHER and ALSO_VIEWED together."""
    if not 0 <= held_back_ratio <= 0.5 or not 0 <= link_held_back_ratio < 1:
        raise ValueError("held_back_ratio must be in [0, 0.5] and link_held_back_ratio in [0, 1)")
    rng = random.Random(seed)
    cat_entities, sub_edges, leaves = _categories()
    brand_entities, makes = _brands(rng)
    kind_info = {k[0]: (dept, k) for dept, kinds in TAXONOMY.items() for k in kinds}
    brand_ids = [b.id for b in brand_entities]
    # A few brands sell much more than others, as in real catalogs.
    weights = [1.0 / (1 + rank) ** 0.5 for rank in range(len(brand_ids))]
    rng.shuffle(weights)
    name_of = {e.id: e.name for e in cat_entities + brand_entities}

    products, prod_entities = [], []
    for i in range(1, n_products + 1):
        brand = rng.choices(brand_ids, weights)[0]
        kind = rng.choice(makes[brand])
        dept, kind_row = kind_info[kind]
        leaf = rng.choice(leaves[kind])
        title, desc = _product_text(rng, name_of[brand], dept, kind_row, name_of[leaf])
        pid = f"product:P{i:04d}"
        prod_entities.append(Entity(pid, title, desc, "Product"))
        products.append((pid, brand, kind, leaf))

    # Brand and category hold-outs come from disjoint products, so every product keeps one of the two edges.
    order = rng.sample(range(n_products), n_products)
    k = round(held_back_ratio * n_products)
    hide_brand, hide_cat = set(order[:k]), set(order[k:2 * k])
    loaded, held = list(sub_edges), []
    for i, (pid, brand, _kind, leaf) in enumerate(products):
        (held if i in hide_brand else loaded).append((pid, "HAS_BRAND", brand))
        (held if i in hide_cat else loaded).append((pid, "IN_CATEGORY", leaf))
    links = _product_links(rng, products)
    hidden = set(rng.sample(range(len(links)), round(link_held_back_ratio * len(links))))
    for j, link in enumerate(links):
        (held if j in hidden else loaded).append(link)
    return Catalog(cat_entities + brand_entities + prod_entities, loaded, held)


def _field(text: str, what: str, strict: bool) -> str:
    """TSV fields may not hold tabs or newlines: ids must be clean, free text is collapsed to single spaces."""
    if strict and re.search(r"\s", text):
        raise ValueError(f"{what} {text!r} contains whitespace; ids and relation names must not")
    return " ".join(text.split())


def write_dataset(catalog: Catalog, out_dir: Path) -> None:
    """Write entities.tsv, triples_train.tsv (all loaded triples), held_back.tsv (ignored by ingest), stats.json."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = ["\t".join([_field(e.id, "entity id", True), _field(e.name, f"name of {e.id}", False),
                       _field(e.description, f"description of {e.id}", False), _field(e.type, "type", True)])
            for e in catalog.entities]
    (out_dir / "entities.tsv").write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    for name, triples in (("triples_train.tsv", catalog.triples), ("held_back.tsv", catalog.held_back)):
        lines = ("\t".join(_field(part, "triple field", True) for part in t) + "\n" for t in triples)
        (out_dir / name).write_text("".join(lines), encoding="utf-8")
    stats = {"n_entities": len(catalog.entities),
             "entity_types": dict(sorted(Counter(e.type for e in catalog.entities).items())),
             "per_relation_loaded": dict(sorted(Counter(r for _, r, _ in catalog.triples).items())),
             "per_relation_held_back": dict(sorted(Counter(r for _, r, _ in catalog.held_back).items()))}
    (out_dir / "stats.json").write_text(json.dumps(stats, indent=1) + "\n", encoding="utf-8")
