"""TOFU (Maini et al. 2024, "TOFU: A Task of Fictitious Unlearning for LLMs") in its published layout.

Layout: the Hugging Face dataset repository ``locuslab/TOFU`` has one config per split, each a JSON-lines
file at the repository root (``forget10.json``, ``forget10_perturbed.json``, ...); the authors load a split
with ``datasets.load_dataset("locuslab/TOFU", split)["train"]`` (data_module.py). Columns used:

- ``full``, ``forgetNN``, ``retainNN``, ``holdoutNN``, ``real_authors``, ``world_facts``:
  ``question``, ``answer``;
- ``forgetNN_perturbed``, ``retain_perturbed``: also ``paraphrased_answer`` (a string) and
  ``perturbed_answer`` (a list of strings, 5 in the release);
- ``real_authors_perturbed``, ``world_facts_perturbed``: also ``perturbed_answer`` (3 in the release).

Other columns (``paraphrased_question``, ...) are ignored. A local directory may hold ``<split>.json``
(JSON lines as published, or one JSON array), ``<split>.jsonl``, ``<split>.parquet`` or the hub's parquet
conversion ``<split>/**/*.parquet``; a source that is no directory but an ``owner/name`` hub id is loaded
with ``datasets.load_dataset`` (online only). A missing file or column raises
:class:`~obliviate.errors.MissingDataError` naming the file, split and column expected.

Question-answer format:

- With a chat template, the prompt is the template applied to the user turn with the generation prompt,
  the training text the template applied to the user and assistant turns (both tokenised without added
  special tokens: the template writes its own). Without one, the authors' plain template
  (config/model_config.yaml for Phi-1.5, StableLM and Pythia: ``"Question: " + q + "\\n" + "Answer: " + a``,
  :func:`obliviate.lm.prompts.qa_text`) after BOS. Their Llama-2 tags (``[INST] q [/INST]``) are
  Llama-2-chat's own format, which its chat template gives.
- EOS follows the answer and is a target, as in the authors' labels
  (data_module.convert_raw_data_to_model_format); with a chat template, only when the template's
  assistant turn holds no EOS of its own (ChatML's ``<|im_end|>``, Llama-2's ``</s>``).
- Loss on answer tokens only: the prompt's labels are -100. The prompt/answer boundary is the longest
  common prefix of the token ids of the prompt and of the full text. (The authors count the prompt's
  tokens tokenised alone, which masks the first answer token when a BPE merges the prompt's trailing
  space into it, " Paris"; the common prefix labels the merged token as answer, and the generation prompt
  is exactly that prefix, ``...Answer:``.)
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import ConfigError, MissingDataError, ObliviateError
from ..data import TokenDataset, encode_all, pad_id, token_dtype
from ..prompts import qa_text

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

HUB_ID = "locuslab/TOFU"
FORGET_SPLITS = ("forget01", "forget05", "forget10")
#: the four evaluation sets of the authors' config/eval_everything.yaml, by the split they read
#: (``{forget}`` is the forget split's name)
EVAL_SPLITS: dict[str, str] = {
    "forget": "{forget}_perturbed",
    "retain": "retain_perturbed",
    "real_authors": "real_authors_perturbed",
    "world_facts": "world_facts_perturbed",
}

_QA = ("question", "answer")
_PARAPHRASED = _QA + ("paraphrased_answer", "perturbed_answer")
_OPTIONS = _QA + ("perturbed_answer",)
_SPLIT_NAME = re.compile(r"forget\d\d(?:_perturbed)?|(?:retain|holdout)\d\d|full|retain_perturbed"
                         r"|(?:real_authors|world_facts)(?:_perturbed)?")
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


@dataclass(frozen=True)
class TofuItem:
    """One TOFU row: a question, its answer and, in the ``*_perturbed`` splits, the paraphrased answer
    and the perturbed (wrong) answers."""

    question: str
    answer: str
    paraphrased_answer: str | None = None
    perturbed_answers: tuple[str, ...] = ()


@dataclass(frozen=True)
class TofuBenchmark:
    """A forget split, its retain split (the authors' pairing: forgetNN with retain(100-NN)) and the four
    evaluation sets keyed as :data:`EVAL_SPLITS`."""

    forget_split: str
    retain_split: str
    forget: list[TofuItem] = field(repr=False)
    retain: list[TofuItem] = field(repr=False)
    eval_sets: dict[str, list[TofuItem]] = field(repr=False)


def required_columns(split: str) -> tuple[str, ...]:
    """The columns obliviate reads from ``split``."""
    if split == "retain_perturbed" or re.fullmatch(r"forget\d\d_perturbed", split):
        return _PARAPHRASED
    if split.endswith("_perturbed"):
        return _OPTIONS
    return _QA


def retain_split_of(forget_split: str) -> str:
    """``forgetNN`` -> ``retain(100-NN)``, as the authors pair them (data_module.TextForgetDatasetQA)."""
    match = re.fullmatch(r"forget(\d\d)", forget_split)
    if not match or not 0 < int(match.group(1)) < 100:
        raise ConfigError(f"a TOFU forget split is forgetNN (e.g. {', '.join(FORGET_SPLITS)}), got {forget_split!r}")
    return f"retain{100 - int(match.group(1)):02d}"


def split_files(directory: Path, split: str) -> list[Path]:
    """The files holding ``split`` under ``directory`` (see the module doc), empty when there are none."""
    for name in (f"{split}.json", f"{split}.jsonl", f"{split}.parquet"):
        if (directory / name).is_file():
            return [directory / name]
    return sorted((directory / split).glob("**/*.parquet")) if (directory / split).is_dir() else []


def _read_json(path: Path) -> list[Any]:
    """Rows of a JSON-lines file (the published form) or of one JSON array."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ObliviateError(f"{path} is not UTF-8 text: {err}") from None
    if text.lstrip().startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as err:
            raise ObliviateError(f"{path} is not valid JSON: {err}") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ObliviateError(f"{path} line {number} is not valid JSON: {err}") from None
    return rows


def _read_parquet(paths: Sequence[Path]) -> list[Any]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDataError(f"reading {paths[0]} needs pyarrow (pip install pyarrow)") from None
    return [row for path in paths for row in pq.read_table(path).to_pylist()]


def _read_hub(hub_id: str, split: str) -> list[Any]:
    try:
        import datasets
    except ImportError:
        raise MissingDataError(f"{hub_id!r} is no local directory; loading it from the Hugging Face hub needs "
                               "the datasets package (pip install datasets) and a network") from None
    try:
        return datasets.load_dataset(hub_id, split, split="train").to_list()
    except Exception as err:  # noqa: BLE001  (offline, unknown repository or config: one clear error)
        raise MissingDataError(f"TOFU split {split!r} could not be loaded from the hub dataset {hub_id!r} "
                               f"(config {split!r}, file {split}.json): {err}") from err


def _items(rows: list[Any], where: str, split: str) -> list[TofuItem]:
    """Rows -> items, checking every required column (the error names ``where``, the split and the column)."""
    if not rows:
        raise MissingDataError(f"{where} holds no rows for TOFU split {split!r}")
    columns = required_columns(split)
    items = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ObliviateError(f"{where}, TOFU split {split!r}: row {i} is a {type(row).__name__}, not an object")
        missing = [c for c in columns if c not in row]
        if missing:
            raise MissingDataError(f"{where}, TOFU split {split!r}: row {i} has no column {missing[0]!r} "
                                   f"(expected columns: {', '.join(columns)})")
        for c in ("question", "answer", "paraphrased_answer"):
            if c in columns and not isinstance(row[c], str):
                raise ObliviateError(f"{where}, TOFU split {split!r}: column {c!r} of row {i} is not a string")
        perturbed = row.get("perturbed_answer") if "perturbed_answer" in columns else []
        if isinstance(perturbed, str):  # the authors' loader accepts one string as one answer
            perturbed = [perturbed]
        if not isinstance(perturbed, list) or not all(isinstance(p, str) for p in perturbed) or (
                "perturbed_answer" in columns and not perturbed):
            raise ObliviateError(f"{where}, TOFU split {split!r}: column 'perturbed_answer' of row {i} must be "
                                 "a non-empty list of strings")
        items.append(TofuItem(row["question"], row["answer"], row.get("paraphrased_answer") if
                              "paraphrased_answer" in columns else None, tuple(perturbed)))
    return items


def load_split(source: str | Path, split: str) -> list[TofuItem]:
    """The rows of TOFU ``split`` from a local directory in the published layout, or from the hub when
    ``source`` is an ``owner/name`` id that is no local path (e.g. :data:`HUB_ID`)."""
    if not _SPLIT_NAME.fullmatch(split):
        raise ConfigError(f"unknown TOFU split {split!r} (e.g. forget10, retain90, forget10_perturbed, "
                          "retain_perturbed, real_authors_perturbed, world_facts_perturbed)")
    path = Path(source)
    if path.is_dir():
        files = split_files(path, split)
        if not files:
            raise MissingDataError(f"TOFU split {split!r} not found: expected {path / (split + '.json')} "
                                   f"(JSON lines with columns {', '.join(required_columns(split))}), or "
                                   f"{split}.jsonl / {split}.parquet / {split}/*.parquet")
        rows = _read_parquet(files) if files[0].suffix == ".parquet" else _read_json(files[0])
        where = str(files[0]) if len(files) == 1 else f"{files[0].parent}/*.parquet"
        return _items(rows, where, split)
    if not path.exists() and _HUB_ID.fullmatch(str(source)):
        return _items(_read_hub(str(source), split), f"hub dataset {source}", split)
    raise MissingDataError(f"TOFU data {source!s} is neither a directory nor a hub id (owner/name)")


def load_tofu(source: str | Path, forget_split: str = "forget10") -> TofuBenchmark:
    """The forget split, its retain split and the four evaluation sets (:data:`EVAL_SPLITS`)."""
    retain_split = retain_split_of(forget_split)
    return TofuBenchmark(
        forget_split=forget_split,
        retain_split=retain_split,
        forget=load_split(source, forget_split),
        retain=load_split(source, retain_split),
        eval_sets={key: load_split(source, split.format(forget=forget_split)) for key, split in EVAL_SPLITS.items()},
    )


def has_chat_template(tokenizer: "PreTrainedTokenizerBase") -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def encode_qa(tokenizer: "PreTrainedTokenizerBase", pairs: Sequence[tuple[str, str]]) -> list[tuple[list[int], int]]:
    """Per ``(question, answer)``: the token ids of prompt + answer + EOS and the prompt's length (the
    first ``n`` ids are the generation prompt; the rest are the loss targets). See the module doc."""
    if not pairs:
        return []
    eos = tokenizer.eos_token_id
    if has_chat_template(tokenizer):
        def render(messages: list[dict[str, str]], prompt: bool) -> str:
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)

        texts = [render([{"role": "user", "content": q}], True) for q, _ in pairs] + [
            render([{"role": "user", "content": q}, {"role": "assistant", "content": a}], False) for q, a in pairs]
        encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    else:
        encoded = encode_all(tokenizer, [qa_text(q, "") for q, _ in pairs] + [qa_text(q, a) for q, a in pairs])
    out = []
    for prompt, full in zip(encoded[:len(pairs)], encoded[len(pairs):]):
        n = _common_prefix(prompt, full)
        ids = list(full)
        if eos is not None and eos not in ids[n:]:
            ids.append(eos)
        out.append((ids, n))
    return out


def qa_dataset(tokenizer: "PreTrainedTokenizerBase", pairs: Sequence[tuple[str, str]], *,
               max_length: int = 512) -> TokenDataset:
    """A :class:`~obliviate.lm.data.TokenDataset` of formatted ``(question, answer)`` pairs whose labels
    are -100 on the prompt (loss on the answer and EOS only), cut to ``max_length`` tokens."""
    if not pairs:
        raise ConfigError("a TOFU QA dataset needs at least one question-answer pair")
    encoded = encode_qa(tokenizer, pairs)
    cut = sum(len(ids) > max_length for ids, _ in encoded)
    empty = [i for i, (_, n) in enumerate(encoded) if n >= max_length]
    if empty:
        raise ConfigError(f"{len(empty)} question(s) leave no answer token within max_length={max_length} "
                          f"(first: {pairs[empty[0]][0]!r})")
    if cut:
        warnings.warn(f"{cut} of {len(pairs)} question-answer texts are longer than max_length={max_length} "
                      "tokens and were truncated", stacklevel=2)
    ids_list = [ids[:max_length] for ids, _ in encoded]
    lengths = np.fromiter(map(len, ids_list), dtype=np.int64, count=len(ids_list))
    offsets = np.zeros(len(ids_list) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.concatenate([np.asarray(s, dtype=np.int64) for s in ids_list])
    if ids.min() < 0 or ids.max() >= len(tokenizer):
        raise ConfigError(f"the tokenizer produced token id {int(ids.max())}, outside its vocabulary of "
                          f"{len(tokenizer)}")
    labels = ids.astype(np.int32)
    for start, (_, n) in zip(offsets[:-1], encoded):
        labels[start:start + n] = -100
    return TokenDataset(ids.astype(token_dtype(len(tokenizer))), offsets, pad=pad_id(tokenizer),
                        max_length=max_length, labels=labels)
