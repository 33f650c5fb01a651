"""MUSE (Shi et al. 2024): the News and Books corpora as published, and the protocol of the authors' code.

Data: the hub datasets ``muse-bench/MUSE-News`` and ``muse-bench/MUSE-Books``; their dataset cards'
``configs`` map each split to ``<config>/<split>-*`` parquet files (``<config>/<split>-00000-of-00001.parquet``):

- ``raw``: ``forget``, ``retain1``, ``retain2``, ``holdout`` (column ``text``)
- ``verbmem``: ``forget`` (``prompt``, ``gt``)
- ``knowmem``: ``forget_qa``, ``retain_qa``, ``forget_qa_icl``, ``retain_qa_icl`` (``question``, ``answer``;
  early revisions of MUSE-News named the retain splits ``retain2_qa`` / ``retain2_qa_icl``: both are read)
- ``privleak``: ``forget``, ``retain``, ``holdout`` (``text``)
- ``scal``, ``sust``: ``forget_1`` .. ``forget_4`` (``text``; MUSE-News only in the authors' ``load_data.py``)

A local directory may also be the ``data/news`` or ``data/books`` folder that muse_bench's ``load_data.py``
writes (``<config>/<split>.json``; see :mod:`.hub_files`).

Protocol (github.com/swj0419/muse_bench at fcd6651): ``eval.py`` ``eval_model`` defaults, ``metrics/*.py``
and ``constants.py``; the constants below name their lines. The VerbMem prompts of the ``verbmem`` split are
the documents' first 32 tokens (the paper, Sec. 3), so the prompt is used as published.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn

from ...errors import ConfigError, MissingDataError
from ...metrics.lm_muse import GenerationScores, greedy_generate, rouge_l_f1
from ..data import encode_all
from .hub_files import is_local, read_split, split_files

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

HUB_IDS: dict[str, str] = {"news": "muse-bench/MUSE-News", "books": "muse-bench/MUSE-Books"}
FOLDS = tuple(f"forget_{i}" for i in range(1, 5))
#: config -> (its splits, the columns of each row)
CONFIGS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "raw": (("forget", "retain1", "retain2", "holdout"), ("text",)),
    "verbmem": (("forget",), ("prompt", "gt")),
    "knowmem": (("forget_qa", "retain_qa", "forget_qa_icl", "retain_qa_icl"), ("question", "answer")),
    "privleak": (("forget", "retain", "holdout"), ("text",)),
    "scal": (FOLDS, ("text",)),
    "sust": (FOLDS, ("text",)),
}
#: the retain QA splits' names in early MUSE-News revisions
_OLD_NAMES = {"retain_qa": "retain2_qa", "retain_qa_icl": "retain2_qa_icl"}

#: the paper's VerbMem prompt length (tokens of each forget document; Sec. 3, "first l = 32 tokens")
VERBMEM_PREFIX_TOKENS = 32
#: eval.py ``verbmem_max_new_tokens: int = 128``; metrics/verbmem.py also cuts ``gt`` to its first 128 tokens
VERBMEM_MAX_NEW_TOKENS = 128
#: eval.py ``knowmem_max_new_tokens: int = 32``
KNOWMEM_MAX_NEW_TOKENS = 32
#: eval.py ``verbmem_agg_key`` / ``knowmem_agg_key = 'mean_rougeL'``: the mean ROUGE-L F1 (metrics/logger.py
#: ``score['rougeL'].fmeasure``, rouge_score without stemmer), reported x 100
ROUGE = "rougeL_f1"
#: metrics/knowmem.py ``get_prefix_before_words_occur(output, ["\\n\\n", "\\nQuestion", "Question:"])``
KNOWMEM_STOP = ("\n\n", "\nQuestion", "Question:")
#: eval.py ``privleak_auc_key: str = 'forget_holdout_Min-40%'``: Min-40% AUC, forget (members) vs holdout
PRIVLEAK_ATTACK = "Min-40%"
PRIVLEAK_K = 40
#: constants.py ``AUC_RETRAIN[corpus]['forget_holdout_Min-40%']``: the retrained 7B model's Min-40% AUC,
#: PrivLeak = (AUC - AUC_retrain) / AUC_retrain x 100 (eval.py)
AUC_RETRAIN_MIN40: dict[str, float] = {"news": 0.47719999999999996, "books": 0.5392999999999999}


def check_corpus(corpus: str) -> str:
    if corpus not in HUB_IDS:
        raise ConfigError(f"unknown MUSE corpus {corpus!r}; known: {', '.join(HUB_IDS)}")
    return corpus


def load_split(source: str | Path, config: str, split: str) -> list[Any]:
    """One split as plain Python: a list of strings (``text`` configs) or of ``{column: value}`` dicts.

    ``source`` is a local copy of the hub repository (or muse_bench's ``data/<corpus>``) or a hub id.
    """
    if config not in CONFIGS:
        raise ConfigError(f"unknown MUSE config {config!r}; known: {', '.join(CONFIGS)}")
    splits, columns = CONFIGS[config]
    if split not in splits:
        raise ConfigError(f"MUSE config {config!r} has no split {split!r}; known: {', '.join(splits)}")
    name = split
    if split in _OLD_NAMES and is_local(source) and not split_files(Path(source), config, split) \
            and split_files(Path(source), config, _OLD_NAMES[split]):
        name = _OLD_NAMES[split]
    table = read_split(source, config, name, columns)
    if columns == ("text",):
        return [str(t) for t in table["text"]]
    return [dict(zip(columns, values)) for values in zip(*(table[c] for c in columns))]


def load_config(source: str | Path, config: str) -> dict[str, list[Any]]:
    """Every split of ``config`` (see :func:`load_split`)."""
    return {split: load_split(source, config, split) for split in CONFIGS[config][0]}


def hub_source(corpus: str) -> str:
    """The hub id of ``corpus`` (``news`` or ``books``)."""
    return HUB_IDS[check_corpus(corpus)]


def knowmem_prompt(question: str, icl: Sequence[dict[str, str]]) -> str:
    """metrics/knowmem.py's prompt: ``Question: {q}\\nAnswer: {a}\\n\\n`` per example, then
    ``Question: {question}\\nAnswer: `` (with its trailing space)."""
    shots = "".join(f"Question: {ex['question']}\nAnswer: {ex['answer']}\n\n" for ex in icl)
    return shots + f"Question: {question}\nAnswer: "


def cut_knowmem_answer(output: str) -> str:
    """metrics/knowmem.py's cut: the text before the first of :data:`KNOWMEM_STOP`, in that order."""
    for word in KNOWMEM_STOP:
        output = output.split(word)[0]
    return output


def _scores(items: list[dict[str, Any]]) -> GenerationScores:
    if not items:
        raise ConfigError("nothing to evaluate: the MUSE split is empty")
    return GenerationScores(100.0 * sum(i[ROUGE] for i in items) / len(items), items)


def knowmem(model: nn.Module, tokenizer: "PreTrainedTokenizerBase", qa: Sequence[dict[str, str]],
            icl: Sequence[dict[str, str]], *, max_new_tokens: int = KNOWMEM_MAX_NEW_TOKENS,
            batch_size: int = 16) -> GenerationScores:
    """KnowMem as metrics/knowmem.py: few-shot prompt with the ``_icl`` split, greedy decoding, the cut
    answer's ROUGE-L F1 against the gold answer; mean x 100. The prompt is BOS + its tokens (the Llama
    tokenizer's ``add_special_tokens=True``)."""
    prompts = encode_all(tokenizer, [knowmem_prompt(row["question"], icl) for row in qa])
    outputs = greedy_generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    items = []
    for row, output in zip(qa, outputs):
        text = cut_knowmem_answer(tokenizer.decode(output, skip_special_tokens=True))
        items.append({"question": row["question"], "reference": row["answer"], "output": text,
                      ROUGE: rouge_l_f1(text, row["answer"])})
    return _scores(items)


def verbmem(model: nn.Module, tokenizer: "PreTrainedTokenizerBase", rows: Sequence[dict[str, str]], *,
            max_new_tokens: int = VERBMEM_MAX_NEW_TOKENS, batch_size: int = 16) -> GenerationScores:
    """VerbMem as metrics/verbmem.py: greedy continuation of each published ``prompt`` (BOS + tokens), ROUGE-L
    F1 against ``gt`` cut to its first ``max_new_tokens`` tokens (counting its BOS, as the authors' slice of
    ``tokenizer(gt, add_special_tokens=True)``); mean x 100."""
    prompts = encode_all(tokenizer, [row["prompt"] for row in rows])
    if any(len(p) == 0 for p in prompts):
        raise MissingDataError("a VerbMem prompt is empty")
    references = [tokenizer.decode(ids[:max_new_tokens], skip_special_tokens=True)
                  for ids in encode_all(tokenizer, [row["gt"] for row in rows])]
    outputs = greedy_generate(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    items = []
    for row, reference, output in zip(rows, references, outputs):
        text = tokenizer.decode(output, skip_special_tokens=True)
        items.append({"prompt": row["prompt"], "reference": reference, "output": text,
                      ROUGE: rouge_l_f1(text, reference)})
    return _scores(items)
