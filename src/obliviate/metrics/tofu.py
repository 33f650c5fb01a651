"""TOFU's metrics (Maini et al. 2024), computed as the authors' code does (github.com/locuslab/tofu,
evaluate_util.py and aggregate_eval_stat.py).

Per item, a *loss* is the mean next-token NLL over the answer's tokens and EOS given the formatted question
(evaluate_util.get_all_evals: ``gt_loss / num_token_gt``), so ``exp(-loss)`` is the per-token
(geometric-mean) probability ``P(a|q)^(1/|a|)``. On each evaluation set
(:data:`~obliviate.lm.benchmarks.tofu.EVAL_SPLITS`):

- **probability** (get_model_utility): ``mean exp(-loss(answer))`` on forget and retain; on real authors and
  world facts normalised over the options, ``mean p / (p + sum_j p_j)`` with ``p_j = exp(-loss(perturbed_j))``;
- **ROUGE-L recall** (eval_rouge_recall): rouge-score with ``use_stemmer=True``, reference = the answer,
  prediction = the greedy generation from the prompt, mean over items;
- **truth-ratio statistic** per item (get_model_utility / get_forget_quality):
  ``r = exp(mean_j loss(perturbed_j) - loss(base))``, ``base`` the paraphrased answer on forget and retain,
  the answer on real authors and world facts (config/eval_everything.yaml ``base_answer_key``); ``r`` is
  ``P(base)/P(perturbed)``, the inverse of the paper's R_truth;
- **truth ratio**: ``mean min(r, 1/r)`` on the forget set, ``mean max(0, 1 - 1/r)`` on the others.

**Forget quality** = ``scipy.stats.ks_2samp(r_forget(model), r_forget(reference)).pvalue``, the reference
being the model fine-tuned on the retain split only (get_forget_quality). **Model utility** =
``scipy.stats.hmean`` of the nine numbers probability, ROUGE, truth ratio on retain, real authors and world
facts. Each evaluation set is cut to its first ``max_items`` = 300 rows and texts to 200 tokens, and greedy
generation stops at 200 tokens in all (the authors' ``ds_size`` and ``generation.max_length``). All values
are fractions in [0, 1].

Where this differs from the authors' code, on purpose: the generation prompt is the training prompt up to
the answer (their plain-template prompt stops before ``Answer:``, evaluate_util.run_generation), and the
200-token cap counts each prompt's own tokens rather than the left-padded batch width. The paper writes the
truth ratio with the arithmetic mean of the perturbed answers' probabilities; the code, which produced the
published numbers, averages their losses (a geometric mean), as here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy.stats import hmean, ks_2samp
from torch import nn

from ..errors import ConfigError
from ..lm.benchmarks.tofu import TofuItem, encode_qa, qa_dataset
from ..lm.data import sequence_logprobs
from ..lm.model import eval_mode, model_device
from .lm_muse import greedy_generate, rouge_scorer
from .registry import Metric, register_metric

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# The TOFU bench's rows (family lm, benchmark "tofu"); fractions in [0, 1]. Registration order is the table's
# column order and the average gap's summation order (utility, then the forget set's three numbers).
_SETS = {"forget": "forget set", "retain": "retain set", "real_authors": "real authors", "world_facts": "world facts"}
register_metric(Metric(
    "forget_quality", "lm", "Forget quality", unit="", standard=True, benchmark="tofu",
    description="p-value of the KS test between the forget truth-ratio statistics of the model and of the "
                "retain-only reference (TOFU's headline; 1 for the reference)"))
register_metric(Metric(
    "model_utility", "lm", "Model utility", unit="", standard=True, in_gap=True, benchmark="tofu",
    description="harmonic mean of probability, ROUGE-L recall and truth ratio on retain, real authors, world facts"))
for _name, _label in _SETS.items():
    _forget = _name == "forget"
    register_metric(Metric(
        f"prob_{_name}", "lm", f"Probability ({_label})", unit="", higher_is_better=None if _forget else True,
        in_gap=_forget, benchmark="tofu", description=f"TOFU's answer probability on the {_label}"))
    register_metric(Metric(
        f"rouge_{_name}", "lm", f"ROUGE-L recall ({_label})", unit="", higher_is_better=None if _forget else True,
        in_gap=_forget, benchmark="tofu", description=f"ROUGE-L recall of greedy answers on the {_label}"))
    register_metric(Metric(
        f"truth_ratio_{_name}", "lm", f"Truth ratio ({_label})", unit="", higher_is_better=None if _forget else True,
        in_gap=_forget, benchmark="tofu", description=f"TOFU's truth ratio on the {_label}"))
register_metric(Metric("ks_statistic", "lm", "KS statistic", unit="", higher_is_better=False, benchmark="tofu",
                       description="the KS statistic behind forget quality (0 = the reference's distribution)"))

#: evaluation sets whose probability is normalised over the answer options
OPTION_SETS = ("real_authors", "world_facts")
#: the evaluation sets of model utility, in the authors' order
UTILITY_SETS = ("retain", "real_authors", "world_facts")
MEASURES = ("prob", "rouge", "truth_ratio")


# ----- the formulas, on numbers --------------------------------------------------------------------

def answer_probability(losses: Sequence[float]) -> float:
    """Mean per-token probability ``mean exp(-loss)`` (forget and retain sets)."""
    return float(np.mean(np.exp(-np.asarray(losses, dtype=np.float64))))


def option_probability(losses: Sequence[float], perturbed_losses: Sequence[Sequence[float]]) -> float:
    """Mean probability of the true answer normalised over it and its perturbed options (real authors,
    world facts): ``mean p / (p + sum_j p_j)``."""
    true = np.exp(-np.asarray(losses, dtype=np.float64))
    other = np.array([np.exp(-np.asarray(p, dtype=np.float64)).sum() for p in perturbed_losses])
    _same_length(true, other)
    return float(np.mean(true / (true + other)))


def truth_ratio_statistic(base_losses: Sequence[float], perturbed_losses: Sequence[Sequence[float]]) -> np.ndarray:
    """Per item ``exp(mean_j loss(perturbed_j) - loss(base))`` (P(base)/P(perturbed) per token)."""
    base = np.asarray(base_losses, dtype=np.float64)
    perturbed = np.array([np.mean(np.asarray(p, dtype=np.float64)) for p in perturbed_losses])
    _same_length(base, perturbed)
    return np.exp(perturbed - base)


def truth_ratio(statistic: Sequence[float], *, forget: bool) -> float:
    """The split's truth ratio from the per-item statistics: ``mean min(r, 1/r)`` on the forget set,
    ``mean max(0, 1 - 1/r)`` on the others."""
    r = np.asarray(statistic, dtype=np.float64)
    return float(np.mean(np.minimum(r, 1 / r) if forget else np.maximum(0.0, 1 - 1 / r)))


def forget_quality(statistic: Sequence[float], reference_statistic: Sequence[float]) -> tuple[float, float]:
    """(p-value, KS statistic) of the two-sample KS test between the forget-set truth-ratio statistics of
    the model and of the retain-only reference."""
    if len(statistic) == 0 or len(reference_statistic) == 0:
        raise ConfigError("forget quality needs the truth-ratio statistics of both models")
    result = ks_2samp(np.asarray(statistic, dtype=np.float64), np.asarray(reference_statistic, dtype=np.float64))
    return float(result.pvalue), float(result.statistic)


def model_utility(values: Sequence[float]) -> float:
    """Harmonic mean of the nine utility numbers (0 when any is 0)."""
    if len(values) != len(UTILITY_SETS) * len(MEASURES):
        raise ConfigError(f"model utility is the harmonic mean of {len(UTILITY_SETS) * len(MEASURES)} numbers, "
                          f"got {len(values)}")
    return float(hmean(np.asarray(values, dtype=np.float64)))


def rouge_l_recall(prediction: str, reference: str) -> float:
    """ROUGE-L recall of ``prediction`` against ``reference`` (rouge-score, Porter stemmer)."""
    return float(rouge_scorer(True).score(reference, prediction)["rougeL"].recall)


def _same_length(a: np.ndarray, b: np.ndarray) -> None:
    if len(a) != len(b):
        raise ConfigError(f"{len(a)} answer losses but {len(b)} lists of perturbed losses")


# ----- scoring a model ----------------------------------------------------------------------------

@dataclass(frozen=True)
class TofuEvalConfig:
    """The authors' evaluation sizes (config/eval_everything.yaml): ``ds_size`` 300 rows per set,
    ``generation.max_length`` 200 tokens (texts and prompt + generation)."""

    max_items: int | None = 300
    max_length: int = 200
    batch_size: int = 16

    def validate(self) -> None:
        if self.max_items is not None and self.max_items < 1:
            raise ConfigError(f"max_items must be >= 1 or None, got {self.max_items}")
        if self.max_length < 2 or self.batch_size < 1:
            raise ConfigError(f"max_length must be >= 2 and batch_size >= 1, got {self.max_length} and "
                              f"{self.batch_size}")


@dataclass
class SplitScores:
    """Per item of one evaluation set: the losses of the answer, of the truth ratio's base answer and of
    each perturbed answer, the greedy generation and its ROUGE-L recall."""

    answer_loss: np.ndarray
    base_loss: np.ndarray
    perturbed_loss: list[np.ndarray]
    generations: list[str] = field(repr=False)
    rouge_l_recall: np.ndarray


@torch.inference_mode()
def answer_losses(model: nn.Module, tokenizer: "PreTrainedTokenizerBase", pairs: Sequence[tuple[str, str]], *,
                  max_length: int = 200, batch_size: int = 16) -> np.ndarray:
    """Per ``(question, answer)``: the mean NLL of the answer's tokens and EOS given the formatted question."""
    dataset = qa_dataset(tokenizer, pairs, max_length=max_length)
    device = model_device(model)
    out = []
    with eval_mode(model):
        for batch in dataset.batches(batch_size):
            logp, n = sequence_logprobs(model, [t.to(device) for t in batch])
            out.append((-logp / n).double().cpu().numpy())
    return np.concatenate(out)


def generate_answers(model: nn.Module, tokenizer: "PreTrainedTokenizerBase", pairs: Sequence[tuple[str, str]], *,
                     max_length: int = 200, batch_size: int = 16) -> list[str]:
    """Greedy answers to the questions, prompt + answer at most ``max_length`` tokens (the answers of
    ``pairs`` only fix the prompt/answer token boundary, see :func:`~obliviate.lm.benchmarks.tofu.encode_qa`)."""
    prompts = [ids[:n] for ids, n in encode_qa(tokenizer, pairs)]
    room = [max_length - len(p) for p in prompts]
    if min(room) < 1:
        raise ConfigError(f"a prompt fills max_length={max_length} tokens; nothing can be generated")
    outputs = greedy_generate(model, tokenizer, prompts, max_new_tokens=max(room), batch_size=batch_size)
    return [tokenizer.decode(out[:r], skip_special_tokens=True) for out, r in zip(outputs, room)]


def score_split(model: nn.Module, tokenizer: "PreTrainedTokenizerBase", items: Sequence[TofuItem], *, options: bool,
                config: TofuEvalConfig = TofuEvalConfig()) -> SplitScores:
    """:class:`SplitScores` of the first ``config.max_items`` items; ``options`` (real authors, world
    facts) makes the answer itself the truth ratio's base, else the paraphrased answer is."""
    config.validate()
    items = list(items[: config.max_items])
    if not items:
        raise ConfigError("a TOFU evaluation set needs at least one item")
    if not options and any(it.paraphrased_answer is None for it in items):
        raise ConfigError("the forget and retain evaluation sets need paraphrased answers (the *_perturbed splits)")
    if any(not it.perturbed_answers for it in items):
        raise ConfigError("TOFU evaluation needs perturbed answers (the *_perturbed splits)")
    kw = {"max_length": config.max_length, "batch_size": config.batch_size}
    qa = [(it.question, it.answer) for it in items]
    answer = answer_losses(model, tokenizer, qa, **kw)
    base = answer if options else answer_losses(
        model, tokenizer, [(it.question, it.paraphrased_answer or "") for it in items], **kw)
    flat = [(it.question, p) for it in items for p in it.perturbed_answers]
    bounds = np.cumsum([0] + [len(it.perturbed_answers) for it in items])
    losses = answer_losses(model, tokenizer, flat, **kw)
    perturbed = [losses[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    generations = generate_answers(model, tokenizer, qa, **kw)
    rouge = np.array([rouge_l_recall(g, it.answer) for g, it in zip(generations, items)])
    return SplitScores(answer, base, perturbed, generations, rouge)


def split_metrics(scores: SplitScores, name: str) -> dict[str, float]:
    """``{"prob_<name>", "rouge_<name>", "truth_ratio_<name>"}`` of one evaluation set."""
    prob = (option_probability(scores.answer_loss, scores.perturbed_loss) if name in OPTION_SETS
            else answer_probability(scores.answer_loss))
    stat = truth_ratio_statistic(scores.base_loss, scores.perturbed_loss)
    return {f"prob_{name}": prob, f"rouge_{name}": float(np.mean(scores.rouge_l_recall)),
            f"truth_ratio_{name}": truth_ratio(stat, forget=name == "forget")}


@dataclass
class TofuEvaluation:
    """A model's TOFU metrics and per-item scores; ``forget_statistic`` is what a later evaluation needs
    from this model when it is the retain-only reference."""

    metrics: dict[str, float | None]
    scores: dict[str, SplitScores] = field(repr=False)

    @property
    def forget_statistic(self) -> np.ndarray:
        s = self.scores["forget"]
        return truth_ratio_statistic(s.base_loss, s.perturbed_loss)


def evaluate_tofu(model: nn.Module, tokenizer: "PreTrainedTokenizerBase",
                  eval_sets: Mapping[str, Sequence[TofuItem]], *,
                  reference_forget_statistic: Sequence[float] | None = None,
                  config: TofuEvalConfig = TofuEvalConfig()) -> TofuEvaluation:
    """Probability, ROUGE and truth ratio on the four evaluation sets (keys ``forget``, ``retain``,
    ``real_authors``, ``world_facts``, as :attr:`~obliviate.lm.benchmarks.tofu.TofuBenchmark.eval_sets`),
    ``model_utility``, and ``forget_quality`` / ``ks_statistic`` against the retain-only reference's
    :attr:`TofuEvaluation.forget_statistic` (None without it; 1.0 for the reference itself)."""
    missing = [k for k in ("forget", *UTILITY_SETS) if k not in eval_sets]
    if missing:
        raise ConfigError(f"TOFU evaluation sets missing: {', '.join(missing)}")
    scores = {name: score_split(model, tokenizer, eval_sets[name], options=name in OPTION_SETS, config=config)
              for name in ("forget", *UTILITY_SETS)}
    metrics: dict[str, float | None] = {}
    for name, s in scores.items():
        metrics |= split_metrics(s, name)
    metrics["model_utility"] = model_utility([metrics[f"{m}_{name}"] for name in UTILITY_SETS for m in MEASURES])
    result = TofuEvaluation(metrics, scores)
    if reference_forget_statistic is None:
        metrics["forget_quality"] = metrics["ks_statistic"] = None
    else:
        metrics["forget_quality"], metrics["ks_statistic"] = forget_quality(result.forget_statistic,
                                                                            reference_forget_statistic)
    return result
