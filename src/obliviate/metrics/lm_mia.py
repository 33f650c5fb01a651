"""Membership-inference scores for language models, all from one forward pass per batch.

For each sequence (scored as the model was trained on it: BOS + text + EOS):
- ``loss``: mean next-token NLL; lower = member.
- ``zlib``: loss / zlib-compressed byte length of the text (MUSE's form); lower = member.
- ``min_k_<K>`` (Min-K% Prob, Shi et al. 2024): mean of the lowest K% token log-probs; higher = member.
- ``min_k++_<K>`` (Min-K%++, Zhang et al. 2024): per token (log p(x_t) - mu_t) / sigma_t, with mu_t and
  sigma_t the mean and standard deviation of log p(.) under p(. | x_<t); mean of the lowest K%;
  higher = member.
- ``ref``: loss - loss under a reference model (given as precomputed losses); lower = member.

Decisions:
- The lowest K% of n tokens are ``max(1, floor(K/100 * n))`` tokens: the reference code's
  ``int(n * ratio)``, but never an empty set for short sequences.
- AUCs are oriented so that higher = members (forget) more distinguishable from non-members
  (holdout); they are not folded, so an over-unlearned model gets AUC < 0.5 and a negative PrivLeak.
"""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ..errors import ObliviateError
from ..lm.data import IGNORE, lm_dataset
from ..lm.model import eval_mode, model_device

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

#: MUSE reports k from 5% to 60%; its headline attack is Min-40%.
DEFAULT_KS: tuple[int, ...] = (5, 10, 20, 30, 40, 50, 60)
HEADLINE_ATTACK = "min_k_40"
_LOWER_IS_MEMBER = ("loss", "zlib", "ref")


def attack_names(ks: Sequence[int] = DEFAULT_KS, *, reference: bool = False) -> list[str]:
    names = ["loss", "zlib"] + [f"min_k_{k}" for k in ks] + [f"min_k++_{k}" for k in ks]
    return names + ["ref"] if reference else names


def member_sign(attack: str) -> float:
    """+1 when a higher score means member, -1 when lower does."""
    if attack in _LOWER_IS_MEMBER:
        return -1.0
    if re.fullmatch(r"min_k(\+\+)?_\d+", attack):
        return 1.0
    raise ObliviateError(f"unknown membership attack {attack!r}; known: loss, zlib, ref, min_k_<K>, min_k++_<K>")


def _check_ks(ks: Sequence[int]) -> None:
    bad = [k for k in ks if not (isinstance(k, int) and 0 < k <= 100)]
    if bad or not ks:
        raise ObliviateError(f"ks must be percentages, integers in (0, 100], got {list(ks)}")


def lowest_k_mean(values: torch.Tensor, mask: torch.Tensor, ks: Sequence[int]) -> dict[int, torch.Tensor]:
    """Per row, the mean of the lowest ``max(1, floor(k% * n))`` of the ``n`` masked-in values."""
    _check_ks(ks)
    count = mask.sum(1)
    if bool((count == 0).any()):
        raise ObliviateError("a sequence has no scored tokens (it needs at least two tokens)")
    ordered = values.masked_fill(~mask, math.inf).sort(dim=1).values
    csum = ordered.masked_fill(~torch.isfinite(ordered), 0.0).cumsum(1)
    out = {}
    for k in ks:
        n_k = torch.floor(count * (k / 100) + 1e-9).clamp(min=1).long()
        out[k] = csum.gather(1, (n_k - 1).unsqueeze(1)).squeeze(1) / n_k
    return out


#: Rows of logits processed together in :func:`token_statistics`: 512 KiB stays in a CPU's L2 cache.
_CHUNK_BYTES = 1 << 19


def token_statistics(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """From (B, T, V) logits and (B, T) labels (-100 = ignore): per target position t >= 1 the token
    log-prob, the Min-K%++ z-score and the mask, each (B, T-1). One softmax serves both.

    Cost: a few passes over the vocabulary-sized logits, kept to one fused softmax, one max and three
    more, over chunks of rows small enough to stay in cache (about 3x faster than whole-batch passes
    for the tiny model on CPU; benchmarks/lm_scoring.py measures the total against a forward pass).
    - log p(x_t) = logit(x_t) - logsumexp, with logsumexp = max logit - log p(argmax): p(argmax) >= 1/V,
      so its log is exact even where log p(x_t) lies far below float32's exp range (no full log_softmax).
    - The z-score is computed on the logits: log p = logit - logsumexp, so (log p(x_t) - mu_t) / sigma_t
      equals (logit(x_t) - E_p[logit]) / std_p(logit), which avoids subtracting two nearly equal
      log-probs when p is near uniform; the centred second moment keeps the variance precise there too.
    """
    batch, length, vocab = logits.shape
    rows = logits.flatten(0, 1)  # every position; the last one has no target and is dropped below
    targets = torch.cat([labels[:, 1:], labels.new_full((batch, 1), IGNORE)], 1).flatten()
    index = targets.clamp(min=0).unsqueeze(-1)
    logsumexp, target_logit, centre, variance = rows.new_empty((4, len(rows)), dtype=torch.float32)
    step = max(16, _CHUNK_BYTES // (4 * vocab))
    for start in range(0, len(rows), step):
        part = slice(start, start + step)
        z = rows[part].float()
        probs = torch.softmax(z, dim=-1)
        top, argmax = z.max(dim=-1, keepdim=True)
        logsumexp[part] = (top - probs.gather(-1, argmax).log()).squeeze(-1)
        target_logit[part] = z.gather(-1, index[part]).squeeze(-1)
        centre[part] = mean = torch.linalg.vecdot(probs, z)
        variance[part] = torch.linalg.vecdot(probs, (z - mean.unsqueeze(-1)).square_())

    def per_position(values: torch.Tensor) -> torch.Tensor:
        return values.view(batch, length)[:, :-1]

    mask = per_position(targets != IGNORE)
    token_lp = per_position(target_logit - logsumexp)
    zscore = per_position((target_logit - centre) / variance.clamp(min=1e-12).sqrt())
    return token_lp * mask, zscore * mask, mask


def scores_from_logits(
    logits: torch.Tensor, labels: torch.Tensor, ks: Sequence[int] = DEFAULT_KS
) -> dict[str, torch.Tensor]:
    """``loss``, ``min_k_<K>`` and ``min_k++_<K>`` per sequence from one batch of logits (one sort for
    both Min-K% variants and every k)."""
    token_lp, z, mask = token_statistics(logits, labels)
    lowest = lowest_k_mean(torch.cat([token_lp, z]), torch.cat([mask, mask]), ks)
    n = len(token_lp)
    out = {"loss": -token_lp.sum(1) / mask.sum(1).clamp(min=1)}
    out |= {f"min_k_{k}": v[:n] for k, v in lowest.items()}
    out |= {f"min_k++_{k}": v[n:] for k, v in lowest.items()}
    return out


def zlib_length(text: str) -> int:
    return len(zlib.compress(text.encode("utf-8")))


@torch.inference_mode()
def score_sequences(
    model: nn.Module,
    tokenizer: "PreTrainedTokenizerBase",
    texts: Sequence[str],
    *,
    ks: Sequence[int] = DEFAULT_KS,
    batch_size: int = 8,
    max_length: int = 512,
    reference_losses: Sequence[float] | np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Every attack's score for every text (see the module doc), from one forward pass per batch.

    Texts are batched in order of length (less padding) and the scores returned in input order.
    ``reference_losses``, the ``loss`` scores of the same texts under a reference model, adds ``ref``.
    """
    _check_ks(ks)
    if batch_size < 1:
        raise ObliviateError(f"batch_size must be >= 1, got {batch_size}")
    if reference_losses is not None and len(reference_losses) != len(texts):
        raise ObliviateError(f"reference_losses has {len(reference_losses)} values for {len(texts)} texts")
    dataset = lm_dataset(tokenizer, texts, max_length=max_length)
    order = torch.argsort(torch.from_numpy(dataset.lengths), descending=True)
    device = model_device(model)
    parts: dict[str, list[torch.Tensor]] = {}
    with eval_mode(model):
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            b_ids, b_mask, b_labels = (t.to(device) for t in dataset.batch(idx))
            logits = model(input_ids=b_ids, attention_mask=b_mask).logits
            for name, value in scores_from_logits(logits, b_labels, ks).items():
                parts.setdefault(name, []).append(value.cpu())
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order))
    out = {name: torch.cat(chunks)[inverse].double().numpy() for name, chunks in parts.items()}
    out["zlib"] = out["loss"] / np.array([zlib_length(t) for t in texts], dtype=np.float64)
    if reference_losses is not None:
        out["ref"] = out["loss"] - np.asarray(reference_losses, dtype=np.float64)
    return {name: out[name] for name in attack_names(ks, reference=reference_losses is not None)}


def mia_auc(
    member_scores: Sequence[float] | np.ndarray, nonmember_scores: Sequence[float] | np.ndarray, attack: str
) -> float:
    """ROC AUC of ``attack`` telling members (label 1) from non-members (label 0), oriented so that
    1.0 = members perfectly recognised, 0.5 = chance, < 0.5 = members look *less* like members."""
    from sklearn.metrics import roc_auc_score

    sign = member_sign(attack)
    members = np.asarray(member_scores, dtype=np.float64)
    nonmembers = np.asarray(nonmember_scores, dtype=np.float64)
    if members.size == 0 or nonmembers.size == 0:
        raise ObliviateError(f"{attack} AUC needs members and non-members, got {members.size} and {nonmembers.size}")
    scores = np.concatenate([members, nonmembers])
    if not np.all(np.isfinite(scores)):
        raise ObliviateError(f"{attack} scores contain NaN or infinite values")
    labels = np.concatenate([np.ones(members.size), np.zeros(nonmembers.size)])
    return float(roc_auc_score(labels, sign * scores))


def mia_aucs(members: Mapping[str, np.ndarray], nonmembers: Mapping[str, np.ndarray]) -> dict[str, float]:
    """:func:`mia_auc` for every attack scored on both sides (e.g. forget vs holdout)."""
    return {name: mia_auc(members[name], nonmembers[name], name) for name in members if name in nonmembers}


def privleak(auc_unlearned: float, auc_retrain: float) -> float:
    """MUSE's PrivLeak = (AUC_unlearned - AUC_retrain) / AUC_retrain * 100: ~0 good, > 0 under-unlearned
    (forget data still recognisable), < 0 over-unlearned."""
    if not (0 < auc_retrain <= 1) or not (0 <= auc_unlearned <= 1):
        raise ObliviateError(
            f"AUCs must lie in [0, 1] (retrain's > 0), got unlearned {auc_unlearned}, retrain {auc_retrain}"
        )
    return (auc_unlearned - auc_retrain) / auc_retrain * 100.0
