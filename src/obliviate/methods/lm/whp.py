"""Who's Harry Potter (Eldan & Russinovich 2023): fine-tune the model on the forget text with
*generic* labels, what a model that never learned the target would predict.

1. Reinforced model: a copy of the original further fine-tuned on the forget text (it over-predicts
   the target's tokens).
2. Anchored terms: a dictionary from the forget text's idiosyncratic words to generic counterparts
   (``anchors_file``, see :mod:`obliviate.lm.anchors` for the format, or extracted automatically).
3. Generic labels, per forget token: argmax of v_baseline - alpha * ReLU(v_reinforced - v_baseline),
   where v_reinforced is the reinforced model's logits on the original text and v_baseline the
   original model's logits on the *translated* text at the aligned position (the translated text's
   baseline predictions); inside a multi-token anchored term, which has no aligned position,
   v_baseline is the original model's logits on the original text.
4. Fine-tune the original on the forget text with those labels (the usual next-token loss).

``mode="logits"`` skips 2-4 and returns the two-model combination (MUSE's WHP baseline) as a
:class:`~obliviate.lm.whp_logits.WHPLogitsModel`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
from torch import nn

from ...errors import ConfigError
from ...lm.anchors import aligned_pair, extract_anchors, logits_of, read_anchors
from ...lm.data import IGNORE, TokenDataset, pad_id, token_dtype
from ...lm.task import LMUnlearnData
from ...lm.whp_logits import WHPLogitsModel, generic_logits
from ..base import param, register_method
from .common import LMMethod, LMUnlearnConfig, fit_lm, nll

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def dataset_texts(tokenizer: "PreTrainedTokenizerBase", dataset: TokenDataset) -> list[str]:
    """The texts of an :func:`~obliviate.lm.data.lm_dataset` (decoded, special tokens dropped)."""
    return [tokenizer.decode(dataset.sequence(i).tolist(), skip_special_tokens=True) for i in range(len(dataset))]


def generic_label_dataset(baseline: nn.Module, reinforced: nn.Module, tokenizer: "PreTrainedTokenizerBase",
                          texts: Sequence[str], anchors: Mapping[str, str], *, alpha: float, max_length: int,
                          batch_size: int = 16) -> tuple[TokenDataset, float]:
    """(input_ids, attention_mask, generic labels) of ``texts`` (step 3 of the module doc), and the
    fraction of target tokens whose generic label differs from the original token."""
    pairs = [aligned_pair(tokenizer, t, anchors, max_length) for t in texts]
    _check_piecewise_tokens(tokenizer, texts, [p[0] for p in pairs], max_length)
    pad = pad_id(tokenizer)
    offsets = np.zeros(len(pairs) + 1, dtype=np.int64)
    np.cumsum([len(p[0]) for p in pairs], out=offsets[1:])
    ids = np.empty(int(offsets[-1]), dtype=token_dtype(len(tokenizer)))
    labels = np.full(int(offsets[-1]), IGNORE, dtype=np.int32)
    changed = total = 0
    for start in range(0, len(pairs), batch_size):  # one batch of logits at a time: (B, T, V) each
        chunk = pairs[start:start + batch_size]
        base_trans = logits_of(baseline, [p[1] for p in chunk], pad, batch_size)
        base_orig = logits_of(baseline, [p[0] for p in chunk], pad, batch_size)
        reinf = logits_of(reinforced, [p[0] for p in chunk], pad, batch_size)
        for k, (orig, _, align) in enumerate(chunk):
            at, n = int(offsets[start + k]), len(orig)
            ids[at:at + n] = orig
            for i in range(1, n):  # the logits at i - 1 predict token i
                j = align[i]
                v_base = base_trans[k][j - 1] if j is not None and j >= 1 else base_orig[k][i - 1]
                label = int(generic_logits(v_base, reinf[k][i - 1], alpha).argmax())
                labels[at + i] = label
                changed, total = changed + (label != orig[i]), total + 1
    return TokenDataset(ids, offsets, pad=pad, max_length=max_length, labels=labels), changed / max(total, 1)


def _check_piecewise_tokens(tokenizer: "PreTrainedTokenizerBase", texts: Sequence[str],
                            pieces: Sequence[Sequence[int]], max_length: int) -> None:
    """WHP aligns a text with its translation by tokenising anchored terms apart from their context;
    refuse a tokenizer for which that changes the text's own tokens (SentencePiece-style ones add a
    word-start marker before every piece), since the model would then be fine-tuned on token sequences
    it never sees."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    bad = [t for t, p in zip(texts, pieces)
           if list(p) != (bos + tokenizer(t, add_special_tokens=False)["input_ids"] + eos)[:max_length]]
    if bad:
        raise ConfigError(f"whp (finetune): with this tokenizer, tokenising anchored terms apart changes the tokens of "
                          f"{len(bad)} of {len(texts)} forget texts (e.g. {bad[0][:60]!r}); use whp mode=logits, "
                          "or a byte-level BPE tokenizer")


@dataclass
class WHPConfig(LMUnlearnConfig):
    alpha: float = param(5.0, "strength of the generic-logit rule v_b - alpha*ReLU(v_r - v_b) (WHP paper: 5)", ge=0)
    mode: Literal["finetune", "logits"] = param(
        "finetune", "finetune: the paper's final model (fine-tuned on generic labels); logits: the two-model "
        "inference-time combination MUSE evaluates")
    reinforce_epochs: int = param(-1, "epochs of the reinforced model's fine-tuning on forget (-1: same as epochs)", ge=-1)
    anchors_file: str | None = param(None, "anchored-terms file (term<TAB>generic per line); None: extracted "
                                           "automatically from the reinforced model")
    max_anchors: int = param(64, "at most this many automatically extracted anchored terms", ge=1)


@register_method
class WHP(LMMethod):
    name = "whp"
    paper = "Who's Harry Potter? Approximate Unlearning in LLMs (Eldan & Russinovich 2023), as evaluated in MUSE"
    summary = "fine-tune on forget text with generic labels from a reinforced model and anchored-term translation"
    Config = WHPConfig

    def reinforce(self, model: nn.Module, data: LMUnlearnData, config: WHPConfig, *, seed: int) -> nn.Module:
        """Step 1: a copy of ``model`` further fine-tuned on the forget texts."""
        epochs = config.epochs if config.reinforce_epochs < 0 else config.reinforce_epochs
        recipe = copy.copy(config)
        recipe.epochs = epochs
        return fit_lm(copy.deepcopy(model), nll("forget"), {"forget": data.forget}, recipe, seed=seed,
                      desc=f"{self.name} reinforce").eval()

    def run(self, model: nn.Module, data: LMUnlearnData, config: WHPConfig, *, seed: int) -> nn.Module:
        anchors = read_anchors(config.anchors_file) if config.anchors_file and config.mode == "finetune" else None
        reinforced = self.reinforce(model, data, config, seed=seed)
        if config.mode == "logits":
            return WHPLogitsModel(model, reinforced, config.alpha)
        forget = dataset_texts(data.tokenizer, data.forget)
        if anchors is None:
            anchors = extract_anchors(model, reinforced, data.tokenizer, forget,
                                      dataset_texts(data.tokenizer, data.retain), max_terms=config.max_anchors,
                                      seed=seed)
        self.anchors = anchors  # kept for inspection (the test and docs read it)
        generic, self.changed_fraction = generic_label_dataset(
            model, reinforced, data.tokenizer, forget, anchors, alpha=config.alpha,
            max_length=data.forget.max_length)
        del reinforced
        return fit_lm(model, nll("forget"), {"forget": generic}, config, seed=seed, desc=self.name)
