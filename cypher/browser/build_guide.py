"""Build cypher/browser/guide.html, the Neo4j Browser guide, from the analyst Cypher library.

Every runnable query block of the guide is the text of one cypher/analyst file (its statement, without the header
comments), so what analysts click in Neo4j Browser is exactly what Neo4j's linter and the FalkorDB tests check.
Parameter blocks are single `:param NAME => VALUE` commands (one per block: Browser runs a block as one command).

    python cypher/browser/build_guide.py          # rewrite guide.html
    python cypher/browser/build_guide.py --check  # exit 1 if guide.html is out of date (tests/test_analyst_cypher.py)
"""

from __future__ import annotations

import html
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CYPHER = HERE.parent
GUIDE = HERE / "guide.html"
TITLE = "kgplatform: inspect and review one prediction run"

# (title, lead, items); an item is ("p", html) | ("param", name, cypher literal) | ("query", analyst name, caption)
# | ("shell", text): a command to run in a terminal, shown but not runnable.
SLIDES = [
    ("Pick a run", "Each prediction run wrote typed relationships with a probability and its provenance.", [
        ("p", "Click a block to copy it into the editor, then run it. Parameters are set with <code>:param</code>, "
              "one per block. First list the runs:"),
        ("param", "limit", "20"),
        ("query", "analyst/runs", "The prediction runs, newest first."),
        ("p", "Copy a <code>run_id</code> from the result into the next block (replace the placeholder), run it, "
              "and keep it for the rest of the guide. Load the style first (<code>:style</code>, see the README) "
              "so predicted relationships show their status and probability."),
        ("param", "run_id", "'PASTE-A-RUN-ID'"),
    ]),
    ("What the run wrote", "Edges per relationship type, by review status.", [
        ("query", "analyst/run_summary", "Proposed, accepted and rejected edges and their probabilities."),
    ]),
    ("Awaiting review", "The proposed edges, most probable first.", [
        ("param", "rel_type", "null"),
        ("param", "min_probability", "0.9"),
        ("param", "limit", "25"),
        ("query", "analyst/proposed_edges",
         "Set rel_type to a type such as 'HAS_BRAND' to see one relation; null shows all."),
    ]),
    ("In the graph", "The same edges drawn: the caption reads type, status and probability.", [
        ("param", "status", "'proposed'"),
        ("query", "analyst/run_graph", "A predicted edge is captioned like HAS_BRAND proposed 0.94; an asserted "
                                       "one by its type alone."),
    ]),
    ("Coverage", "How many products lack a brand or a category, before and after this run.", [
        ("param", "label", "'Product'"),
        ("param", "rel_types", "[]"),
        ("query", "analyst/coverage", "Before: asserted edges. After: plus the run's edges that were not "
                                      "rejected. An empty rel_types means the types the run predicted."),
    ]),
    ("One product", "Everything predicted for one product, then its neighbourhood.", [
        ("p", "Take a head id from the review list (for example <code>p:42</code>)."),
        ("param", "id", "'p:42'"),
        ("param", "include_rejected", "false"),
        ("param", "limit", "10"),
        ("query", "analyst/product_predictions", "The product's predictions, most probable first."),
        ("query", "analyst/neighbourhood", "The product with its asserted and predicted relationships."),
    ]),
    ("Why this edge?", "The evidence: short paths of asserted relationships between head and tail.", [
        ("param", "head", "'p:42'"),
        ("param", "rel_type", "'HAS_BRAND'"),
        ("param", "tail", "'b:7'"),
        ("query", "analyst/evidence_paths", "Up to three hops, asserted relationships only: for example a product "
                                            "bought together with this one that has the predicted brand."),
    ]),
    ("Review", "Decisions are recorded with the command line (or the review page), never by hand.", [
        ("shell", "kgp review accept --run RUN --rel-type HAS_BRAND --min-probability 0.95 --dry-run\n"
                  "kgp review accept --head p:42 --rel-type HAS_BRAND --tail b:7 --run RUN\n"
                  "kgp review reject --run RUN --max-probability 0.92\n"
                  "kgp review log --run RUN"),
        ("p", "Accepted edges become facts for the next training run; rejected ones stay in the graph as known "
              "negatives and are never proposed again. The decisions of this run:"),
        ("param", "rel_type", "null"),
        ("param", "status", "'rejected'"),
        ("param", "limit", "100"),
        ("query", "analyst/run_edges", "Set status to 'accepted' for the accepted ones, or null for all."),
    ]),
    ("Recommendations", "What people are recommended, why, and whom to target with a product.", [
        ("p", "A recommendation run writes <code>(:User)-[:RECOMMENDED {rank, score, evidence}]-&gt;(:Product)</code>; "
              "a newer run replaces a user's older ones. Coverage of every recommendation run first:"),
        ("param", "run_id", "null"),
        ("query", "analyst/recommendation_coverage", "Users with recommendations, distinct items recommended and "
                                                     "their share of the catalogue, per run."),
        ("p", "Paste a user's id into the next block (<code>MATCH (u:User) RETURN u.id LIMIT 5</code> lists some):"),
        ("param", "user", "'PASTE-A-USER-ID'"),
        ("param", "limit", "20"),
        ("query", "analyst/user_recommendations", "The user's recommendations from the newest run (what "
                                                  "kgp recommend serves), each with the graph path behind it."),
        ("param", "id", "'p:42'"),
        ("param", "include_related", "true"),
        ("param", "via", "['HAS_BRAND', 'IN_CATEGORY']"),
        ("query", "analyst/product_audience", "Users the product is recommended to, best rank first, then users "
                                              "whose behaviour touches a product of its brand or category."),
    ]),
]


def statement(name: str) -> str:
    """Statement text as the platform runs it (cypher_files.load): header comments dropped, no trailing ';'."""
    lines = [ln for ln in (CYPHER / f"{name}.cypher").read_text(encoding="utf-8").splitlines()
             if not ln.lstrip().startswith("//")]
    return "\n".join(lines).strip().rstrip(";")


def render() -> str:
    out = ["<!DOCTYPE html>", "<html>", "<head>", '<meta charset="utf-8">', f"<title>{html.escape(TITLE)}</title>",
           "</head>", "<body>",
           "<!-- Generated by cypher/browser/build_guide.py from cypher/analyst: edit those, then rebuild. -->",
           '<article class="guide">', '  <carousel class="deck container-fluid">']
    for number, (title, lead, items) in enumerate(SLIDES, start=1):
        out += ['    <slide class="row-fluid">', '      <div class="col-sm-3">',
                f"        <h3>{number}. {html.escape(title)}</h3>", f'        <p class="lead">{html.escape(lead)}</p>',
                "      </div>", '      <div class="col-sm-9">']
        for item in items:
            kind = item[0]
            if kind == "p":
                out.append(f"        <p>{item[1]}</p>")
            elif kind == "param":
                text = html.escape(f":param {item[1]} => {item[2]}", quote=False)
                out.append(f'        <pre class="pre-scrollable code runnable">{text}</pre>')
            elif kind == "query":
                text = html.escape(statement(item[1]), quote=False)
                out += ["        <figure>",
                        f'          <pre class="pre-scrollable code runnable" data-query="{item[1]}">{text}</pre>',
                        f"          <figcaption>{html.escape(item[2])} (<code>{item[1]}.cypher</code>)</figcaption>",
                        "        </figure>"]
            elif kind == "shell":
                out.append(f'        <pre class="code">{html.escape(item[1], quote=False)}</pre>')
            else:
                raise ValueError(f"unknown guide item {kind!r}")
        out += ["      </div>", "    </slide>"]
    out += ["  </carousel>", "</article>", "</body>", "</html>", ""]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not GUIDE.is_file() or GUIDE.read_text(encoding="utf-8") != text:
            print(f"{GUIDE} is out of date: run python cypher/browser/build_guide.py", file=sys.stderr)
            return 1
        return 0
    GUIDE.write_text(text, encoding="utf-8")
    print(f"wrote {GUIDE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
