"""New entities from text: a token-classification head on the encoder, trained by distant supervision.

Entity linking (text/linking.py) finds only names the graph already has. Here the graph teaches a tagger what a
brand (or a category) looks like in product text, so that it can mark one the graph has never heard of:

1. ``distant_examples``: a product's text that names one of its *own* tails of a target relation (its brand, by
   the matcher entity linking uses) gets that span tagged B-/I-<tail type>; every other token is O;
2. ``train_tagger``: the encoder's transformer with a new linear layer over its tokens (transformers'
   AutoModelForTokenClassification), trained on those tags within a wall-clock budget, early-stopped on span F1
   over held-out products;
3. ``predict_spans``: tagged spans with character offsets and a confidence (the mean probability of their tags);
4. ``propose_entities``: spans that name no existing node of their type, grouped by normalised name, each with
   the products that mention it and the evidence: proposed nodes for review (nothing is written here).

Pure functions over a Snapshot and texts; the model is trained in memory and saved by the caller.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch
from pydantic import BaseModel, Field

from kgplatform.devices import CPU
from kgplatform.progress import ProgressFn
from kgplatform.snapshot import SPLIT_TRAIN, Snapshot
from kgplatform.text.keepbest import KeepBest, TrainingClock
from kgplatform.text.linking import find_mentions, relation_matcher
from kgplatform.textnorm import MAX_TEXT_CHARS, name_entry, name_of, normalize

IGNORE = -100  # the loss skips special tokens and padding


class TaggerConfig(BaseModel):
    time_budget_s: float = Field(300.0, gt=0, description="wall-clock seconds of training")
    batch_size: int = Field(16, ge=1)
    max_seq_length: int = Field(64, ge=8, le=512, description="tokens kept of each text (titles come first)")
    lr: float = Field(5e-5, gt=0)
    eval_every_s: float = Field(30.0, gt=0)
    patience: int = Field(3, ge=1, description="validations without a better span F1 before stopping")
    valid_share: float = Field(0.2, gt=0, lt=1, description="products held out to early-stop on")
    seed: int = 0


@dataclass(frozen=True)
class Span:
    start: int  # character offsets into the text, end exclusive
    end: int
    kind: int  # index into the tagger's entity types
    text: str = ""
    confidence: float = 1.0


@dataclass
class Example:
    node: int
    text: str
    spans: list[Span]


def tag_names(types: list[str]) -> list[str]:
    return ["O"] + [f"{prefix}-{t}" for t in types for prefix in ("B", "I")]


def distant_examples(snapshot: Snapshot, relations: list[str],
                     known_splits: tuple[int, ...] = (SPLIT_TRAIN,)) -> tuple[list[Example], list[str]]:
    """(examples, entity types): every node whose text names one of its own tails of ``relations`` (by known
    edges), with those mentions as spans; the types are the tails' node types, in relation order."""
    rows = snapshot.triples()
    rows = rows[torch.isin(snapshot.edge_split, torch.tensor(known_splits, dtype=torch.long))]
    types: list[str] = []
    spans: dict[int, list[Span]] = {}
    for rel_type in relations:
        rel = snapshot.rel_names.index(rel_type)
        edges = rows[rows[:, 1] == rel]
        if not len(edges):
            continue
        kind_name = snapshot.type_names[int(snapshot.node_type[edges[0, 2]])]
        if kind_name not in types:
            types.append(kind_name)
        kind = types.index(kind_name)
        own: dict[int, set[int]] = {}
        for h, t in edges[:, [0, 2]].tolist():
            own.setdefault(h, set()).add(t)
        matcher = relation_matcher(snapshot, rel_type, rows)
        for head, tails in own.items():
            for m in find_mentions(matcher, snapshot.node_text[head]):
                if m.tail in tails:
                    spans.setdefault(head, []).append(Span(m.start, m.end, kind, m.span))
    examples = [Example(node, snapshot.node_text[node][:MAX_TEXT_CHARS], non_overlapping(found))
                for node, found in sorted(spans.items())]
    return examples, types


def non_overlapping(spans: list[Span]) -> list[Span]:
    """Longest first, then leftmost; returned in text order."""
    kept: list[Span] = []
    for s in sorted(spans, key=lambda s: (-(s.end - s.start), s.start)):
        if all(s.end <= k.start or k.end <= s.start for k in kept):
            kept.append(s)
    return sorted(kept, key=lambda s: s.start)


def token_labels(offsets: list[tuple[int, int]], spans: list[Span]) -> list[int]:
    """One tag id per token: the token's first character inside a span makes it B (the span's first token) or I;
    tokens with empty offsets (special tokens) get IGNORE."""
    labels, open_span = [], None
    for a, b in offsets:
        if b <= a:
            labels.append(IGNORE)
            continue
        inside = next((s for s in spans if s.start <= a < s.end), None)
        if inside is None:
            labels.append(0)
        else:
            labels.append(1 + 2 * inside.kind + (1 if inside is open_span else 0))
        open_span = inside
    return labels


def encode_batch(tokenizer, texts: list[str], max_length: int, spans: list[list[Span]] | None = None):
    """(model inputs, offsets per text, labels or None)."""
    enc = tokenizer(texts, truncation=True, max_length=max_length, padding=True, return_offsets_mapping=True,
                    return_tensors="pt")
    offsets = [[tuple(o) for o in row.tolist()] for row in enc.pop("offset_mapping")]
    labels = None
    if spans is not None:
        labels = torch.tensor([token_labels(o, s) for o, s in zip(offsets, spans)])
        labels[enc["attention_mask"] == 0] = IGNORE
    return enc, offsets, labels


def decode_spans(text: str, offsets: list[tuple[int, int]], probs: torch.Tensor, num_types: int) -> list[Span]:
    """Spans from per-token tag probabilities [T, 1 + 2K]: a B tag opens a span, I tags of its type extend it."""
    tags = probs.argmax(dim=1).tolist()
    out, current = [], None  # current: [start, end, kind, [probabilities]]
    for (a, b), tag, p in zip(offsets, tags, probs.max(dim=1).values.tolist()):
        if b <= a:
            continue
        kind, inner = (tag - 1) // 2, (tag - 1) % 2 == 1
        if tag != 0 and inner and current is not None and current[2] == kind:
            current[1], current[3] = b, current[3] + [p]
            continue
        if current is not None:
            out.append(current)
            current = None
        if tag != 0 and not inner and kind < num_types:
            current = [a, b, kind, [p]]
    if current is not None:
        out.append(current)
    return [Span(a, b, k, text[a:b], sum(ps) / len(ps)) for a, b, k, ps in out]


@torch.no_grad()
def predict_spans(model, tokenizer, texts: list[str], num_types: int, max_length: int = 64,
                  batch_size: int = 64) -> list[list[Span]]:
    was_training = model.training
    model.eval()
    out = []
    try:
        for i in range(0, len(texts), batch_size):
            chunk = [t[:MAX_TEXT_CHARS] for t in texts[i:i + batch_size]]
            enc, offsets, _ = encode_batch(tokenizer, chunk, max_length)
            probs = model(**enc.to(model.device)).logits.softmax(dim=-1).cpu()
            out += [decode_spans(text, o, p, num_types) for text, o, p in zip(chunk, offsets, probs)]
    finally:
        model.train(was_training)
    return out


def span_scores(predicted: list[list[Span]], gold: list[list[Span]]) -> dict:
    """Exact-match span precision, recall and F1 over (start, end, kind)."""
    keys = lambda spans: {(s.start, s.end, s.kind) for s in spans}  # noqa: E731
    hit = sum(len(keys(p) & keys(g)) for p, g in zip(predicted, gold))
    n_pred, n_gold = sum(len(p) for p in predicted), sum(len(g) for g in gold)
    precision, recall = hit / max(n_pred, 1), hit / max(n_gold, 1)
    return {"precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
            "predicted": n_pred, "gold": n_gold}


@dataclass
class TaggerResult:
    model: object
    tokenizer: object
    types: list[str]
    before: dict
    best: dict
    curve: list[dict] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    stopped: str = "budget"


def train_tagger(encoder_path: str, examples: list[Example], types: list[str], cfg: TaggerConfig,
                 progress: ProgressFn | None = None, device: torch.device = CPU) -> TaggerResult:
    """A token classifier from the encoder's transformer, trained on ``device`` on the examples' spans; the state
    with the best span F1 on a seeded share of held-out examples is kept (the model stays on ``device``). Raises
    ValueError without examples to learn from."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    if len(examples) < 2:
        raise ValueError(f"train_tagger: {len(examples)} texts name their own {'/'.join(types) or 'entities'}; "
                         "distant supervision needs at least 2")
    torch.manual_seed(cfg.seed)
    order = list(range(len(examples)))
    random.Random(cfg.seed).shuffle(order)
    n_valid = max(1, int(len(order) * cfg.valid_share))
    valid = [examples[i] for i in order[:n_valid]]
    train = [examples[i] for i in order[n_valid:]]
    names = tag_names(types)
    tokenizer = AutoTokenizer.from_pretrained(encoder_path)
    model = AutoModelForTokenClassification.from_pretrained(
        encoder_path, num_labels=len(names), id2label=dict(enumerate(names)),
        label2id={name: i for i, name in enumerate(names)}).to(device)

    def validate() -> dict:
        predicted = predict_spans(model, tokenizer, [e.text for e in valid], len(types), cfg.max_seq_length)
        return span_scores(predicted, [e.spans for e in valid])

    before = validate()
    result = TaggerResult(model, tokenizer, types, before, before)
    kept = KeepBest(before["f1"], cfg.patience, keep_first=True)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    gen = random.Random(cfg.seed + 1)
    clock = TrainingClock(cfg.time_budget_s, cfg.eval_every_s)
    model.train()
    while clock.running():
        batch = gen.sample(train, min(cfg.batch_size, len(train)))
        enc, _, labels = encode_batch(tokenizer, [e.text for e in batch], cfg.max_seq_length, [e.spans for e in batch])
        loss = model(**enc.to(device), labels=labels.to(device)).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        result.steps += 1
        if clock.due():
            scores = validate()
            result.curve.append({"seconds": clock.validated(progress, "train entity tagger"), "step": result.steps,
                                 "loss": float(loss.detach()), **scores})
            if kept.offer(model, scores["f1"]):
                result.best = scores
            elif kept.exhausted:
                result.stopped = "patience"
                break
    kept.restore(model)
    model.eval()
    result.seconds = clock.elapsed()
    return result


@dataclass
class Proposal:
    kind: str  # the entity type (a label)
    name: str  # the most frequent surface form
    key: str  # normalised name
    heads: list[int]  # the nodes whose text names it
    confidence: float  # mean span confidence
    evidence: list[str]  # a few spans with their context


def known_names(snapshot: Snapshot, types: list[str]) -> dict[str, set[str]]:
    """type -> the normalised names of its existing nodes (what linking already finds)."""
    out: dict[str, set[str]] = {t: set() for t in types}
    for i, text in enumerate(snapshot.node_text):
        kind = snapshot.type_names[int(snapshot.node_type[i])]
        if kind in out:
            out[kind].add(normalize(name_of(text)))
    return out


def propose_entities(snapshot: Snapshot, nodes: list[int], spans: list[list[Span]], types: list[str], *,
                     min_confidence: float = 0.5, min_heads: int = 1) -> list[Proposal]:
    """Spans (of ``nodes``' texts) that name no existing node of their type, grouped by normalised name; names
    linking would drop (too short, digits only, common words) are dropped here too. Most-mentioned first."""
    known = known_names(snapshot, types)
    groups: dict[tuple[str, str], list[tuple[int, Span]]] = {}
    for node, found in zip(nodes, spans):
        for s in found:
            key, rejected = name_entry(s.text)
            if rejected or s.confidence < min_confidence or key in known[types[s.kind]]:
                continue
            groups.setdefault((types[s.kind], key), []).append((node, s))
    out = []
    for (kind, key), hits in groups.items():
        heads = sorted({n for n, _ in hits})
        if len(heads) < min_heads:
            continue
        forms = [s.text for _, s in hits]
        name = max(set(forms), key=lambda f: (forms.count(f), f))
        evidence = [snapshot.node_text[n][max(s.start - 30, 0):s.end + 30] for n, s in hits[:3]]
        out.append(Proposal(kind, name, key, heads, sum(s.confidence for _, s in hits) / len(hits), evidence))
    return sorted(out, key=lambda p: (-len(p.heads), -p.confidence, p.key))
