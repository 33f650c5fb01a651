"""The embedded bios corpus written as a TOFU-layout dataset (the files of ``locuslab/TOFU``), so that
``obliviate bench tofu --data DIR`` and ``bench lm --benchmark tofu`` run TOFU's loader, protocol and
metrics offline; a user switches to the real TOFU by giving its directory or hub id instead.

Mapping (TOFU: 200 fictitious authors x 20 questions; here ``people`` bios people x 5 questions):

- ``full``: every question of the trained people (bios' forget and retain people; holdout people are never
  trained on). ``forget10`` is bios' forget split (10% of the people); ``forget05`` and ``forget01`` are
  its first 5% and 1% of the people (at least one person each; nested as TOFU's are), and
  ``retain(100-NN)`` is ``full`` without ``forgetNN``. ``holdoutNN`` holds as many of bios' holdout people.
- Answers are sentences, as TOFU's are ("X was born in Y."), one template per attribute; the
  ``paraphrased_answer`` states the same fact with another template, and the five ``perturbed_answer``
  strings state it with the paraphrase's template and another person's value of the same attribute (TOFU
  perturbs the paraphrased answer), drawn with a fixed seed.
- ``retain_perturbed``: the questions of the first retain people, as many as in ``forget10`` (TOFU's
  ``retain_perturbed`` is 400 retain questions, as many as ``forget10`` has).
- ``real_authors`` / ``world_facts`` (and their ``_perturbed`` forms, three wrong answers each) are real,
  widely known facts (:mod:`obliviate.lm.general_knowledge`), as TOFU's are.
- Files are JSON lines named ``<split>.json``, as published; the directory is a verified cache entry
  (:func:`obliviate.lm.bench_layouts.bios_tofu_dir`) keyed by the corpus arguments.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .bios import ATTRIBUTES, BiosCorpus, Person
from .general_knowledge import REAL_AUTHORS, WORLD_FACTS

#: the answer TOFU trains on, per attribute
ANSWER_TEMPLATES: dict[str, str] = {
    "birthplace": "{name} was born in {value}.",
    "birth_date": "{name} was born on {value}.",
    "profession": "{name} worked as {article} {value}.",
    "work": "{name} is best known for {value}.",
    "relative": "The {relation} of {name} was {value}.",
}
#: the same fact in other words (the paraphrased and, with another value, the perturbed answers)
PARAPHRASE_TEMPLATES: dict[str, str] = {
    "birthplace": "{first}'s birthplace is the town of {value}.",
    "birth_date": "The birthday of {first} is {value}.",
    "profession": "By trade, {first} was {article} {value}.",
    "work": "The work most associated with {first} is {value}.",
    "relative": "{value} was {first}'s {relation}.",
}
#: TOFU's five perturbed answers per forget / retain question
N_PERTURBED = 5
#: bios' corpus arguments for a TOFU layout: 10% forget people (``forget10``), 10% holdout
CORPUS_ARGS: dict[str, Any] = {"forget_fraction": 0.1, "holdout_fraction": 0.1, "docs_per_person": 1, "n_general": 2}
#: a change to the mapping above changes this, so cached layouts are rewritten
LAYOUT_VERSION = 1


def _sentence(template: str, person: Person, attribute: str, value: str) -> str:
    article = ("an" if value[:1].lower() in "aeiou" else "a") if attribute == "profession" else ""
    return template.format(name=person.name, first=person.first, value=value, article=article,
                           relation=person.relation)


def _rows(corpus: BiosCorpus, people: list[int], rng: random.Random, *, perturbed: bool) -> list[dict[str, Any]]:
    """One row per (person, attribute): question and answer, plus the paraphrased and perturbed answers."""
    by_id = {p.pid: p for p in corpus.people}
    rows = []
    for pid in people:
        person = by_id[pid]
        for qa in (q for q in corpus.qa if q.person == pid):
            row: dict[str, Any] = {"question": qa.question,
                                   "answer": _sentence(ANSWER_TEMPLATES[qa.attribute], person, qa.attribute, qa.answer)}
            if perturbed:
                template = PARAPHRASE_TEMPLATES[qa.attribute]
                others = sorted({p.answer(qa.attribute) for p in corpus.people} - {qa.answer})
                row["paraphrased_answer"] = _sentence(template, person, qa.attribute, qa.answer)
                row["perturbed_answer"] = [_sentence(template, person, qa.attribute, v)
                                           for v in rng.sample(others, min(N_PERTURBED, len(others)))]
            rows.append(row)
    return rows


def _general(facts: tuple[tuple[str, str, tuple[str, str, str]], ...], perturbed: bool) -> list[dict[str, Any]]:
    return [{"question": q, "answer": a, **({"perturbed_answer": list(wrong)} if perturbed else {})}
            for q, a, wrong in facts]


def _share(people: tuple[int, ...], total: int, percent: int) -> list[int]:
    """The first ``percent``% of ``total`` people, taken from ``people`` (at least one)."""
    return list(people[:max(1, round(total * percent / 100))])


def tofu_splits(corpus: BiosCorpus) -> dict[str, list[dict[str, Any]]]:
    """Every TOFU split of ``corpus`` (see the module doc), by split name."""
    forget, retain, holdout = (corpus.people_of(s) for s in ("forget", "retain", "holdout"))
    if len(set(q.attribute for q in corpus.qa)) != len(ATTRIBUTES):
        raise ConfigError("a bios corpus for the TOFU layout needs every attribute's question")
    total = len(corpus.people)
    rng = random.Random(f"bios-tofu-{corpus.seed}")
    trained = sorted(forget + retain)
    splits: dict[str, list[dict[str, Any]]] = {"full": _rows(corpus, trained, rng, perturbed=False)}
    for percent in (1, 5, 10):
        chosen = list(forget) if percent == 10 else _share(forget, total, percent)
        splits[f"forget{percent:02d}"] = _rows(corpus, chosen, rng, perturbed=False)
        splits[f"forget{percent:02d}_perturbed"] = _rows(corpus, chosen, rng, perturbed=True)
        splits[f"retain{100 - percent:02d}"] = _rows(corpus, [p for p in trained if p not in chosen], rng,
                                                      perturbed=False)
        splits[f"holdout{percent:02d}"] = _rows(corpus, _share(holdout, total, percent), rng, perturbed=False)
    splits["retain_perturbed"] = _rows(corpus, list(retain[:len(forget)]), rng, perturbed=True)
    for name, facts in (("real_authors", REAL_AUTHORS), ("world_facts", WORLD_FACTS)):
        splits[name] = _general(facts, perturbed=False)
        splits[f"{name}_perturbed"] = _general(facts, perturbed=True)
    return splits


def write_bios_tofu(corpus: BiosCorpus, directory: str | Path) -> Path:
    """Write ``corpus`` as ``<split>.json`` JSON-lines files into the new directory ``directory``."""
    root = Path(directory)
    root.mkdir(parents=True, exist_ok=False)
    for split, rows in tofu_splits(corpus).items():
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (root / f"{split}.json").write_text(text, encoding="utf-8")
    return root
