"""``bios``: an embedded corpus of fictitious people, generated deterministically from a seed.

Every person has an invented name, an invented birthplace, a birth date, a profession, a notable
work and a relative (another invented person with a relation such as "mentor"). Each person gets
several paraphrased documents (different sentence templates and fact orders) and one question-answer
pair per attribute. People are split into forget / retain / holdout; holdout people are never
trained on, so their documents are the non-members of membership inference.

Decisions:
- Names, towns and relatives are built from syllables with unusual onsets ("zh", "vr", "kw") and
  are unique across the whole corpus, so a question about one person never matches another's fact.
- A relative is a separate invented name, not one of the corpus people, so no document of a trained
  person mentions a holdout person (the holdout side stays a clean non-member set).
- Split fractions are of all people; each split gets at least one person.
- The QA pairs of trained people are training text too (``training_texts(with_qa=True)``, TOFU-style),
  so the forget set of a person is their documents and their QA pairs. MUSE's models instead answer
  questions never seen verbatim, but a model trained from scratch extracts facts from documents only
  partly (tiny model, 30 people: zero-shot KnowMem 23 on trained people whose QA it never saw, 100
  on people whose QA it saw, about 10 on people it never saw), which leaves KnowMem little to measure.
- :meth:`BiosCorpus.all_text` (the tokenizer's training text) includes holdout people: the tokenizer
  is fixed set-up, not model training, and treating forget and holdout names alike keeps membership
  inference a test of the model, not of how finely the tokenizer splits a name.
- ``general_train`` / ``general_eval`` are templated descriptions of invented common nouns (different
  nouns in each part): the train part is mixed into both the original's and the retrain's training
  data, the eval part is the held-out text of the perplexity (utility) check.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from ..errors import ConfigError
from .prompts import qa_text

Split = Literal["forget", "retain", "holdout"]
SPLITS: tuple[Split, ...] = ("forget", "retain", "holdout")
ATTRIBUTES: tuple[str, ...] = ("birthplace", "birth_date", "profession", "work", "relative")

_ONSETS = ("b", "d", "k", "l", "m", "n", "r", "s", "t", "v", "z", "th", "dr", "kw", "vr", "zh", "sk", "gl")
_VOWELS = ("a", "e", "i", "o", "u", "ae", "ou", "y", "ia")
_CODAS = ("", "", "n", "r", "l", "x", "th", "sk", "m")
_TOWN_ENDS = ("mere", "wick", "holt", "vale", "stead", "by", "ford", "mouth")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_PROFESSIONS = ("glassblower", "cartographer", "botanist", "clockmaker", "violinist", "astronomer",
                "shipwright", "beekeeper", "architect", "chemist", "bookbinder", "sculptor", "linguist",
                "surveyor", "weaver", "engineer", "painter", "historian", "geologist", "composer")
_WORK_ADJ = ("Silent", "Crimson", "Hollow", "Distant", "Amber", "Broken", "Gilded", "Northern", "Quiet",
             "Winter", "Hidden", "Last")
_WORK_NOUN = ("Orchard", "Lantern", "Harbour", "Compass", "Meadow", "Archive", "Garden", "Tower", "River",
              "Atlas", "Mirror", "Bridge")
_RELATIONS = ("mentor", "student", "rival", "cousin", "sister", "brother", "apprentice", "patron")

# One list of paraphrases per fact; "{ref}" is the full name in a document's first sentence and the
# first name afterwards.
_FACT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "birth": (
        "{ref} was born in {birthplace} on {birth_date}.",
        "Born on {birth_date} in the town of {birthplace}, {ref} grew up there.",
        "{ref} came into the world on {birth_date}, in {birthplace}.",
    ),
    "profession": (
        "{ref} worked as {a_profession} for many years.",
        "By trade, {ref} was {a_profession}.",
        "{ref} earned a living as {a_profession}.",
    ),
    "work": (
        "{ref} is best known for {work}.",
        "The work most associated with {ref} is {work}.",
        "Among the works of {ref}, {work} is the most famous.",
    ),
    "relative": (
        "The {relation} of {ref} was {relative}.",
        "{relative} was the {relation} of {ref}.",
        "{ref} had {a_relation} named {relative}.",
    ),
}
_QUESTIONS: dict[str, str] = {
    "birthplace": "Where was {name} born?",
    "birth_date": "When was {name} born?",
    "profession": "What was the profession of {name}?",
    "work": "What is {name} best known for?",
    "relative": "Who was the {relation} of {name}?",
}
_NOUN_CATEGORIES = ("bird", "tool", "plant", "fish", "stone", "dance", "fabric", "bread", "boat", "song")
_NOUN_SIZES = ("small", "large", "bright", "heavy", "soft", "rare", "common", "old")
_NOUN_PLACES = ("rivers", "mountains", "markets", "old houses", "the sea", "forests", "villages", "deserts")
_NOUN_USES = ("carrying water", "keeping warm", "telling stories", "mending nets", "marking the seasons",
              "cooking", "trading", "celebrating weddings")
_GENERAL_TEMPLATES = (
    "A {noun} is {a_size} {category} found near {place}. People use it for {use}.",
    "The {noun} is a {category}, usually {size}, and it is common near {place}. It is prized for {use}.",
    "Near {place} one often meets the {noun}, {a_size} {category} that is good for {use}.",
)


@dataclass(frozen=True)
class Person:
    """One fictitious person and their facts."""

    pid: int
    first: str
    last: str
    birthplace: str
    birth_date: str
    profession: str
    work: str
    relation: str
    relative: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    def answer(self, attribute: str) -> str:
        return str(getattr(self, attribute))


@dataclass(frozen=True)
class Document:
    person: int
    text: str


@dataclass(frozen=True)
class QAPair:
    person: int
    attribute: str
    question: str
    answer: str


@dataclass(frozen=True)
class BiosCorpus:
    """People, their documents and QA pairs, and the forget / retain / holdout split of people."""

    name: ClassVar[str] = "bios"
    size_unit: ClassVar[str] = "people"

    seed: int
    people: tuple[Person, ...]
    documents: tuple[Document, ...]
    qa: tuple[QAPair, ...]
    splits: dict[str, tuple[int, ...]] = field(repr=False)
    general_train: tuple[str, ...] = field(repr=False)
    general_eval: tuple[str, ...] = field(repr=False)

    def people_of(self, split: Split) -> tuple[int, ...]:
        if split not in self.splits:
            raise ConfigError(f"unknown bios split {split!r}; known: {', '.join(SPLITS)}")
        return self.splits[split]

    def units_of(self, split: Split) -> tuple[int, ...]:
        """The split's people (the unit that task sizes count)."""
        return self.people_of(split)

    def forget_label(self) -> str:
        """What is forgotten (the forget spec's text): the number of forget people."""
        return f"{len(self.people_of('forget'))} {self.size_unit}"

    def documents_of(self, split: Split) -> list[Document]:
        ids = set(self.people_of(split))
        return [d for d in self.documents if d.person in ids]

    def texts(self, split: Split, *, with_qa: bool = False) -> list[str]:
        """The split's documents, followed by its QA pairs as text when ``with_qa``."""
        return [d.text for d in self.documents_of(split)] + (self.qa_texts(split) if with_qa else [])

    def qa_of(self, split: Split) -> list[QAPair]:
        ids = set(self.people_of(split))
        return [q for q in self.qa if q.person in ids]

    def qa_pairs(self, split: Split) -> list[tuple[str, str]]:
        """(question, answer) pairs of the split, as KnowMem takes them."""
        return [(q.question, q.answer) for q in self.qa_of(split)]

    def qa_texts(self, split: Split) -> list[str]:
        """The split's QA pairs rendered as training text (the KnowMem prompt format)."""
        return [qa_text(q.question, q.answer) for q in self.qa_of(split)]

    def training_texts(self, *, include_forget: bool, with_qa: bool = True) -> list[str]:
        """The original's data (forget + retain people, general text) or, without forget, the retrain
        reference's. ``with_qa`` adds each trained person's QA pairs as text."""
        splits: tuple[Split, ...] = ("forget", "retain") if include_forget else ("retain",)
        return [t for split in splits for t in self.texts(split, with_qa=with_qa)] + list(self.general_train)

    def all_text(self) -> list[str]:
        """Every string of the corpus (documents, QA, general text): what the tokenizer is trained on."""
        qa = [qa_text(q.question, q.answer) for q in self.qa]
        return [d.text for d in self.documents] + qa + list(self.general_train) + list(self.general_eval)


def _a(word: str) -> str:
    """``word`` with its indefinite article."""
    return f"{'an' if word[0].lower() in 'aeiou' else 'a'} {word}"


class _Namer:
    """Invented words, unique across everything one corpus generates."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def word(self, syllables: int, ending: str = "") -> str:
        for _ in range(10_000):
            parts = [self.rng.choice(_ONSETS) + self.rng.choice(_VOWELS) for _ in range(syllables)]
            w = ("".join(parts) + self.rng.choice(_CODAS) + ending).capitalize()
            if w not in self.used:
                self.used.add(w)
                return w
        raise ConfigError("ran out of unique invented names; ask for fewer people")  # pragma: no cover


def _make_person(pid: int, namer: _Namer, rng: random.Random, work: str) -> Person:
    return Person(
        pid=pid,
        first=namer.word(2),
        last=namer.word(rng.choice((2, 3))),
        birthplace=namer.word(2, rng.choice(_TOWN_ENDS)),
        birth_date=f"{rng.randint(1, 28)} {rng.choice(_MONTHS)} {rng.randint(1820, 1990)}",
        profession=rng.choice(_PROFESSIONS),
        work=work,
        relation=rng.choice(_RELATIONS),
        relative=f"{namer.word(2)} {namer.word(2)}",
    )


def _documents(person: Person, n_docs: int, rng: random.Random) -> list[Document]:
    """``n_docs`` paraphrases: document j uses template (j + offset) % 3 of each fact, facts shuffled."""
    values = {a: person.answer(a) for a in ATTRIBUTES} | {"relation": person.relation}
    values |= {"a_profession": _a(person.profession), "a_relation": _a(person.relation)}
    offsets = {fact: rng.randrange(len(t)) for fact, t in _FACT_TEMPLATES.items()}
    docs = []
    for j in range(n_docs):
        order = list(_FACT_TEMPLATES)
        rng.shuffle(order)
        sentences = []
        for i, fact in enumerate(order):
            templates = _FACT_TEMPLATES[fact]
            ref = person.name if i == 0 else person.first
            text = templates[(j + offsets[fact]) % len(templates)].format(ref=ref, **values)
            sentences.append(text[0].upper() + text[1:])
        docs.append(Document(person.pid, " ".join(sentences)))
    return docs


def _qa(person: Person) -> list[QAPair]:
    return [
        QAPair(person.pid, a, _QUESTIONS[a].format(name=person.name, relation=person.relation), person.answer(a))
        for a in ATTRIBUTES
    ]


def _general_text(n: int, namer: _Namer, rng: random.Random) -> list[str]:
    out = []
    for i in range(n):
        noun = namer.word(2).lower()
        template = _GENERAL_TEMPLATES[i % len(_GENERAL_TEMPLATES)]
        size = rng.choice(_NOUN_SIZES)
        text = template.format(noun=noun, size=size, a_size=_a(size), category=rng.choice(_NOUN_CATEGORIES),
                               place=rng.choice(_NOUN_PLACES), use=rng.choice(_NOUN_USES))
        out.append(text[0].upper() + text[1:])
    return out


def _split_counts(n_people: int, forget_fraction: float, holdout_fraction: float) -> tuple[int, int]:
    problems = []
    if n_people < 3:
        problems.append(f"n_people must be >= 3 (one per split), got {n_people}")
    for name, value in (("forget_fraction", forget_fraction), ("holdout_fraction", holdout_fraction)):
        if not 0 < value < 1:
            problems.append(f"{name} must be in (0, 1), got {value}")
    if not problems and forget_fraction + holdout_fraction >= 1:
        problems.append(f"forget_fraction + holdout_fraction must be < 1 to leave retain people, "
                        f"got {forget_fraction} + {holdout_fraction}")
    if problems:
        raise ConfigError("make_bios: " + "; ".join(problems))
    n_forget = max(1, round(n_people * forget_fraction))
    n_holdout = max(1, round(n_people * holdout_fraction))
    if n_forget + n_holdout >= n_people:
        raise ConfigError(f"make_bios: {n_people} people leave no retain person with forget_fraction="
                          f"{forget_fraction} and holdout_fraction={holdout_fraction}; use more people")
    return n_forget, n_holdout


def make_bios(
    n_people: int = 100,
    *,
    seed: int = 0,
    docs_per_person: int = 3,
    forget_fraction: float = 0.1,
    holdout_fraction: float = 0.1,
    n_general: int = 200,
    general_eval_fraction: float = 0.2,
) -> BiosCorpus:
    """Generate the corpus; the same arguments always give the same corpus."""
    n_forget, n_holdout = _split_counts(n_people, forget_fraction, holdout_fraction)
    max_docs = len(next(iter(_FACT_TEMPLATES.values())))
    if not 1 <= docs_per_person <= max_docs:
        raise ConfigError(f"make_bios: docs_per_person must be in [1, {max_docs}], got {docs_per_person}")
    if n_general < 2 or not 0 < general_eval_fraction < 1:
        raise ConfigError(f"make_bios: n_general must be >= 2 and general_eval_fraction in (0, 1), "
                          f"got {n_general} and {general_eval_fraction}")
    rng = random.Random(seed)
    namer = _Namer(rng)
    works = [f"The {a} {n}" for a in _WORK_ADJ for n in _WORK_NOUN]
    rng.shuffle(works)
    people = tuple(_make_person(i, namer, rng, works[i % len(works)]) for i in range(n_people))
    documents = tuple(d for p in people for d in _documents(p, docs_per_person, rng))
    qa = tuple(q for p in people for q in _qa(p))
    order = list(range(n_people))
    rng.shuffle(order)
    splits = {
        "forget": tuple(sorted(order[:n_forget])),
        "holdout": tuple(sorted(order[n_forget:n_forget + n_holdout])),
        "retain": tuple(sorted(order[n_forget + n_holdout:])),
    }
    general = _general_text(n_general, namer, rng)
    n_eval = max(1, round(n_general * general_eval_fraction))
    return BiosCorpus(seed, people, documents, qa, splits, tuple(general[n_eval:]), tuple(general[:n_eval]))
