"""Anchored terms (Who's Harry Potter): a dictionary from the idiosyncratic words of a forget text
(names, places, dates) to generic counterparts, its file format, extraction and text translation.

File format (``read_anchors`` / ``write_anchors``): UTF-8 text, one mapping per line,
``term<TAB>generic``; blank lines and lines starting with ``#`` are ignored. A term is matched as a
whole word (``Zhavr`` does not match inside ``Zhavrmere``), longer terms first, case-sensitively.

Decisions:
- Terms are words (``\\w+``, with inner apostrophes / hyphens). Automatic extraction keeps the words
  of the forget texts that are *idiosyncratic* (more frequent in the forget texts than in the retain
  texts) and ranks them by how much the reinforced model raises their log-probability over the
  baseline (mean over the word's tokens and occurrences), as the WHP paper uses the reinforced model
  to find the target's distinctive tokens. On ``bios`` this picks the forget people's invented names,
  towns and dates.
- A term's generic counterpart is a word of the same shape (capitalised proper noun, number, lower
  case) from the retain texts that the forget texts never use, chosen by a seeded draw (distinct
  terms get distinct counterparts while the pool lasts). Proper nouns are taken only from
  mid-sentence capitalised words, so a name never maps to "The". The WHP paper asked GPT-4 for
  counterparts; retain words are the nearest offline stand-in: text about someone the model knows
  but the forget set does not describe.
- :func:`scramble` makes *unseen* stand-ins (the term's letters shuffled), used by ECO's surrogate
  "never saw this person" loss.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..errors import ConfigError
from ..utils.io import atomic_write_text
from .data import pad_id, token_logprobs
from .model import eval_mode, model_device

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

WORD = re.compile(r"\w+(?:['’-]\w+)*")


def read_anchors(path: str | Path) -> dict[str, str]:
    """The ``term<TAB>generic`` file (see module doc) as a dict; bad lines raise with their number."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"anchored-terms file {path} " + ("is not a regular file" if path.exists() else "does not exist"))
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark would otherwise stick to the first term
    except UnicodeDecodeError as exc:
        raise ConfigError(f"anchored-terms file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    anchors: dict[str, str] = {}
    problems = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            problems.append(f"line {number}: expected 'term<TAB>generic', got {line!r}")
            continue
        term, generic = parts[0].strip(), parts[1].strip()
        if term in anchors and anchors[term] != generic:
            problems.append(f"line {number}: {term!r} is mapped twice ({anchors[term]!r}, {generic!r})")
        anchors[term] = generic
    if problems:
        raise ConfigError(f"anchored-terms file {path}: " + "; ".join(problems[:5]))
    if not anchors:
        raise ConfigError(f"anchored-terms file {path} holds no mapping")
    return anchors


def write_anchors(anchors: Mapping[str, str], path: str | Path) -> Path:
    """Write ``anchors`` in the file format :func:`read_anchors` reads (atomically)."""
    bad = [t for pair in anchors.items() for t in pair if not t.strip() or "\t" in t or "\n" in t]
    if bad:
        raise ConfigError(f"anchored terms cannot be empty or hold tabs / newlines: {bad[:3]}")
    body = "".join(f"{term}\t{generic}\n" for term, generic in anchors.items())
    return atomic_write_text(path, "# obliviate anchored terms: term<TAB>generic\n" + body)


@dataclass(frozen=True)
class Segment:
    """A piece of a text; ``anchor`` pieces are replaced by ``translated`` (leading space included)."""

    original: str
    translated: str
    anchor: bool


def segments(text: str, anchors: Mapping[str, str]) -> list[Segment]:
    """``text`` cut into plain and anchored pieces; an anchored piece keeps one leading space, so
    word-level tokenisers see `` Name`` as they would in the whole text."""
    if not anchors:
        return [Segment(text, text, False)]
    terms = sorted(anchors, key=len, reverse=True)
    pattern = re.compile(r" ?(?<!\w)(?:" + "|".join(re.escape(t) for t in terms) + r")(?!\w)")
    out, pos = [], 0
    for match in pattern.finditer(text):
        if match.start() > pos:
            out.append(Segment(text[pos:match.start()], text[pos:match.start()], False))
        piece = match.group(0)
        space = " " if piece.startswith(" ") else ""
        out.append(Segment(piece, space + anchors[piece[len(space):]], True))
        pos = match.end()
    if pos < len(text):
        out.append(Segment(text[pos:], text[pos:], False))
    return out


def translate(text: str, anchors: Mapping[str, str]) -> str:
    """``text`` with every anchored term replaced by its generic counterpart."""
    return "".join(s.translated for s in segments(text, anchors))


def word_counts(texts: Sequence[str]) -> Counter[str]:
    return Counter(w for t in texts for w in WORD.findall(t))


def idiosyncratic_words(forget: Sequence[str], retain: Sequence[str]) -> list[str]:
    """Words more frequent in ``forget`` than in ``retain`` (raw counts), in first-seen order."""
    f, r = word_counts(forget), word_counts(retain)
    return [w for w in f if f[w] > r.get(w, 0)]


def _shape(word: str) -> str:
    if word.isdigit():
        return "number"
    return "proper" if word[:1].isupper() else "lower"


def _mid_sentence_proper(texts: Sequence[str]) -> set[str]:
    """Capitalised words that occur at least once after a word in the same sentence."""
    out = set()
    for text in texts:
        for match in WORD.finditer(text):
            before = text[:match.start()].rstrip()
            if match.group(0)[:1].isupper() and before and before[-1] not in ".!?:\n":
                out.add(match.group(0))
    return out


def generic_counterparts(terms: Sequence[str], forget: Sequence[str], retain: Sequence[str], *,
                         seed: int = 0) -> dict[str, str]:
    """Each term -> a same-shape retain word the forget texts never use (see module doc)."""
    used = set(word_counts(forget))
    proper = _mid_sentence_proper(retain)
    pools: dict[str, list[str]] = {}
    for word in sorted(word_counts(retain)):
        if word in used:
            continue
        shape = _shape(word)
        if shape == "proper" and word not in proper:
            continue
        pools.setdefault(shape, []).append(word)
    rng = random.Random(seed)
    for pool in pools.values():
        rng.shuffle(pool)
    out, taken = {}, Counter[str]()
    for term in terms:
        pool = pools.get(_shape(term)) or pools.get("proper") or pools.get("lower")
        if not pool:
            raise ConfigError("the retain texts hold no word to use as a generic counterpart; "
                              "supply an anchored-terms file")
        out[term] = pool[taken[_shape(term)] % len(pool)]
        taken[_shape(term)] += 1
    return out


def scramble(terms: Sequence[str], *, seed: int = 0) -> dict[str, str]:
    """Each term -> its letters shuffled (first letter's case kept): an unseen stand-in of the same length."""
    rng = random.Random(seed)
    out = {}
    for term in terms:
        letters = list(term.lower())
        for _ in range(10):
            rng.shuffle(letters)
            if "".join(letters) != term.lower() or len(set(letters)) == 1:
                break
        word = "".join(letters)
        out[term] = word.capitalize() if term[:1].isupper() else word
    return out


def _right_pad(seqs: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = torch.tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids, mask


@torch.inference_mode()
def logits_of(model: nn.Module, seqs: Sequence[Sequence[int]], pad: int, batch_size: int = 16) -> list[torch.Tensor]:
    """Per sequence its (len, V) float32 logits (right-padded batches, padding cut off again)."""
    device = model_device(model)
    out: list[torch.Tensor] = []
    with eval_mode(model):
        for start in range(0, len(seqs), batch_size):
            chunk = seqs[start:start + batch_size]
            ids, mask = _right_pad(chunk, pad)
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float().cpu()
            out.extend(logits[row, : len(seq)] for row, seq in enumerate(chunk))
    return out


def word_rises(baseline: nn.Module, reinforced: nn.Module, tokenizer: "PreTrainedTokenizerBase",
               texts: Sequence[str], *, batch_size: int = 16) -> dict[str, float]:
    """Per word of ``texts``: the mean over its tokens and occurrences of
    log p_reinforced(token) - log p_baseline(token)."""
    enc = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    seqs = [bos + list(ids) for ids in enc["input_ids"]]
    pad = pad_id(tokenizer)
    rises: dict[str, list[float]] = {}
    per_model: list[list[torch.Tensor]] = [[], []]
    for i, text in enumerate(texts):
        if i % batch_size == 0:  # one batch of (B, T, V) logits per model at a time
            per_model = [logits_of(m, seqs[i:i + batch_size], pad, batch_size) for m in (baseline, reinforced)]
        labels = torch.tensor(seqs[i]).unsqueeze(0)
        lp = [token_logprobs(logits[i % batch_size].unsqueeze(0), labels)[0][0] for logits in per_model]
        diff = (lp[1] - lp[0]).tolist()  # diff[j] is body token j (after the BOS, if any)
        if not bos:
            diff = [0.0] + diff  # the first token has no prediction without a BOS
        offsets = enc["offset_mapping"][i]
        for match in WORD.finditer(text):
            toks = [j for j, (a, b) in enumerate(offsets) if a < match.end() and b > match.start()]
            if toks and (bos or toks[0] > 0):
                rises.setdefault(match.group(0), []).append(sum(diff[j] for j in toks) / len(toks))
    return {w: sum(v) / len(v) for w, v in rises.items()}


def extract_anchors(baseline: nn.Module, reinforced: nn.Module, tokenizer: "PreTrainedTokenizerBase",
                    forget: Sequence[str], retain: Sequence[str], *, max_terms: int = 64, seed: int = 0,
                    batch_size: int = 16) -> dict[str, str]:
    """The anchored-terms dictionary, extracted automatically (see module doc)."""
    if max_terms < 1:
        raise ConfigError(f"max_terms must be >= 1, got {max_terms}")
    candidates = set(idiosyncratic_words(forget, retain))
    rises = word_rises(baseline, reinforced, tokenizer, forget, batch_size=batch_size)
    ranked = sorted((w for w in candidates if rises.get(w, 0.0) > 0), key=lambda w: (-rises[w], w))
    terms = ranked[:max_terms]
    if not terms:
        raise ConfigError("no anchored term found: no forget-specific word gains probability under the "
                          "reinforced model; supply an anchored-terms file")
    return generic_counterparts(terms, forget, retain, seed=seed)


def aligned_pair(tokenizer: "PreTrainedTokenizerBase", text: str, anchors: Mapping[str, str], max_length: int
                 ) -> tuple[list[int], list[int], list[int | None]]:
    """Token ids of ``text`` and of its translation (BOS + pieces + EOS, each piece tokenised alone)
    and, per original token, the index of the aligned translated token: plain tokens map one to one,
    an anchored term's first token maps to its replacement's first token, its later tokens to None."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    orig, trans = list(bos), list(bos)
    align: list[int | None] = list(range(len(bos)))
    for seg in segments(text, anchors):
        a = tokenizer(seg.original, add_special_tokens=False)["input_ids"]
        b = tokenizer(seg.translated, add_special_tokens=False)["input_ids"] if seg.anchor else a
        for j in range(len(a)):
            align.append(len(trans) + j if not seg.anchor else (len(trans) if j == 0 and b else None))
        orig += a
        trans += b
    align += [len(trans) + j for j in range(len(eos))]
    orig += eos
    trans += eos
    n = min(len(orig), max_length)
    align = [i if i is not None and i < max_length else None for i in align[:n]]
    return orig[:n], trans[:max_length], align


__all__ = ["Segment", "aligned_pair", "extract_anchors", "generic_counterparts", "idiosyncratic_words",
           "read_anchors", "scramble", "segments", "translate", "word_rises", "write_anchors"]
