"""MUSE-style evaluation of one causal LM on an :class:`~obliviate.lm.task.LMTask`.

Metrics (percentages 0..100 unless said otherwise):
- ``verbmem_forget`` (C1), ``knowmem_forget`` (C2), ``knowmem_retain`` (C4, also ``utility``);
- ``mia_auc_<attack>``: every membership attack's AUC, forget documents (members) vs holdout documents
  (non-members), as a fraction in [0, 1]; ``mia_auc_ref`` (the reference-model attack: a document's loss
  minus its loss under the retrain reference) whenever the reference's losses are given;
- ``privleak`` (C3): MUSE's PrivLeak of the headline Min-40% attack against the retrain reference's
  AUC (0 for the reference itself);
- ``perplexity`` on the held-out general text, and ``loss_forget`` / ``loss_retain``, the mean
  next-token loss of the forget and retain people's documents.

``gap_to_retrain`` averages over the registry's lm gap metrics (``in_gap``); PrivLeak is already relative to retrain, so
its gap is |PrivLeak|.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from ..config import Config, param
from ..lm.task import LMTask
from .gap import gap_to_retrain
from .lm_mia import DEFAULT_KS, HEADLINE_ATTACK, mia_aucs, privleak, score_sequences
from .lm_muse import knowmem, perplexity, verbmem
from .registry import Criterion, Metric, computed_metrics, gap_metrics, register_metric

# Registration order is the main table's column order and the average gap's summation order.
register_metric(Metric(
    "verbmem_forget", "lm", "VerbMem (forget)", higher_is_better=False, in_gap=True, standard=True,
    description="ROUGE-L F1 x100 of the continuation of forget documents (C1)",
    criterion=Criterion("No VerbMem", "VerbMem on forget at or below retrain's", tol=1e-9)))
register_metric(Metric(
    "knowmem_forget", "lm", "KnowMem (forget)", higher_is_better=False, in_gap=True, standard=True,
    description="ROUGE-L F1 x100 of answers to questions about the forget people (C2)",
    criterion=Criterion("No KnowMem", "KnowMem on forget at or below retrain's", tol=1e-9)))
register_metric(Metric(
    "knowmem_retain", "lm", "KnowMem (retain)", in_gap=True, standard=True,
    description="ROUGE-L F1 x100 of answers to questions about the retain people (C4)"))
register_metric(Metric(
    "privleak", "lm", "PrivLeak", higher_is_better=None, in_gap=True, standard=True,
    description="MUSE's PrivLeak of the Min-40% attack against retrain's AUC (C3); gap = |PrivLeak|",
    criterion=Criterion("No privacy leak", "PrivLeak within [-5, 5]", against=None, band=5.0)))
register_metric(Metric(
    "utility", "lm", "Utility", standard=True, same_as="knowmem_retain",
    description="KnowMem on retain under MUSE's name (not counted twice in the average gap)",
    criterion=Criterion("Utility kept", "utility (KnowMem on retain) at least 95% of the original's",
                        against="original", factor=0.95)))
register_metric(Metric("mia_auc_<attack>", "lm", unit="", higher_is_better=None,
                       description="AUC of a membership attack, forget (members) vs holdout documents"))
register_metric(Metric("perplexity", "lm", unit="", higher_is_better=False,
                       description="perplexity on held-out general text"))
register_metric(Metric("loss_forget", "lm", unit="", higher_is_better=None,
                       description="mean next-token loss of the forget documents"))
register_metric(Metric("loss_retain", "lm", unit="", higher_is_better=False,
                       description="mean next-token loss of the retain documents"))
# set on rows of DP2's DP-trained base (obliviate.lm.bench_dp.dp_metrics): settings of the base, not metrics
register_metric(Metric("dp_epsilon", "lm", "DP ε", unit="", higher_is_better=False, setting=True,
                       description="the DP accountant's epsilon at the target delta"))
register_metric(Metric("dp_noise_multiplier", "lm", "DP noise multiplier", unit="", higher_is_better=None,
                       setting=True, description="DP-SGD's noise multiplier"))


@dataclass(frozen=True)
class LMEvalConfig(Config):
    """Generation lengths of the MUSE metrics, scaled to the short ``bios`` documents.

    MUSE prompts VerbMem with 32 tokens and generates 128; a ``bios`` document has ~60-80 tokens, so
    the defaults are a 12-token prefix and 48 new tokens. KnowMem keeps MUSE's 32 new tokens.
    """

    prefix_tokens: int = param(12, "tokens of a document given as the VerbMem prompt", ge=1)
    verbmem_new_tokens: int = param(48, "tokens VerbMem generates after the prompt", ge=1)
    knowmem_new_tokens: int = param(32, "tokens KnowMem generates as the answer", ge=1)
    batch_size: int = param(16, "sequences per evaluation batch", ge=1)


def evaluate_lm(
    model: nn.Module,
    task: LMTask,
    config: LMEvalConfig = LMEvalConfig(),
    *,
    reference: dict[str, Any] | None = None,
    reference_losses: Mapping[str, np.ndarray] | None = None,
) -> dict[str, dict[str, float | None]]:
    """``{"metrics": ..., "gap_to_retrain": ...}``; ``reference`` is the retrain model's metrics (None
    when ``model`` is the reference: PrivLeak 0, gaps 0); ``reference_losses`` its per-document losses
    on the forget and holdout texts (:func:`reference_document_losses`), which add ``mia_auc_ref``."""
    config.validate()
    corpus, tok = task.corpus, task.tokenizer
    bs = config.batch_size
    metrics: dict[str, float | None] = {
        "verbmem_forget": verbmem(model, tok, corpus.texts("forget"), prefix_tokens=config.prefix_tokens,
                                  max_new_tokens=config.verbmem_new_tokens, batch_size=bs).score,
        "knowmem_forget": knowmem(model, tok, corpus.qa_pairs("forget"),
                                  max_new_tokens=config.knowmem_new_tokens, batch_size=bs).score,
        "knowmem_retain": knowmem(model, tok, corpus.qa_pairs("retain"),
                                  max_new_tokens=config.knowmem_new_tokens, batch_size=bs).score,
    }
    metrics["utility"] = metrics["knowmem_retain"]
    scores = {s: score_sequences(model, tok, corpus.texts(s), ks=DEFAULT_KS, batch_size=bs, max_length=task.max_length,
                                 reference_losses=(reference_losses or {}).get(s))
              for s in ("forget", "holdout", "retain")}
    aucs = mia_aucs(scores["forget"], scores["holdout"])
    metrics |= {f"mia_auc_{name}": value for name, value in aucs.items()}
    headline = f"mia_auc_{HEADLINE_ATTACK}"
    ref_auc = metrics[headline] if reference is None else reference.get(headline)
    metrics["privleak"] = privleak(metrics[headline], ref_auc) if ref_auc else None
    metrics["perplexity"] = perplexity(model, tok, list(corpus.general_eval), batch_size=bs,
                                       max_length=task.max_length)
    metrics["loss_forget"] = float(scores["forget"]["loss"].mean())
    metrics["loss_retain"] = float(scores["retain"]["loss"].mean())
    metrics.update(computed_metrics("lm", model, task))
    average_over = gap_metrics("lm")
    gaps = gap_to_retrain(metrics, reference if reference is not None else metrics, average_over)
    if metrics["privleak"] is not None:
        gaps["privleak"] = abs(metrics["privleak"])
        parts = [gaps.get(k) for k in average_over]
        gaps["average"] = None if any(p is None for p in parts) else sum(parts) / len(parts)  # type: ignore[arg-type]
    return {"metrics": metrics, "gap_to_retrain": gaps}


def reference_document_losses(reference: nn.Module, task: LMTask,
                              config: LMEvalConfig = LMEvalConfig()) -> dict[str, np.ndarray]:
    """The retrain reference's loss on every forget and holdout document: the calibration of the
    reference-model membership attack (``ref`` = loss - loss under the reference; Carlini et al. 2021)."""
    config.validate()
    return {s: score_sequences(reference, task.tokenizer, task.corpus.texts(s), ks=DEFAULT_KS,
                               batch_size=config.batch_size, max_length=task.max_length)["loss"]
            for s in ("forget", "holdout")}


def document_metrics(model: nn.Module, tokenizer, forget: list[str], retain: list[str], *, max_length: int = 512,
                     config: LMEvalConfig = LMEvalConfig()) -> dict[str, float]:
    """What can be measured on a user's own forget and retain documents (no QA, no holdout): the mean
    next-token loss of each, and VerbMem on the forget documents (the unlearning record's metrics)."""
    config.validate()
    bs = config.batch_size
    losses = {name: float(score_sequences(model, tokenizer, texts, ks=[40], batch_size=bs,
                                          max_length=max_length)["loss"].mean())
              for name, texts in (("forget", forget), ("retain", retain))}
    return {
        "loss_forget": losses["forget"],
        "loss_retain": losses["retain"],
        "verbmem_forget": verbmem(model, tokenizer, forget, prefix_tokens=config.prefix_tokens,
                                  max_new_tokens=config.verbmem_new_tokens, batch_size=bs).score,
    }
