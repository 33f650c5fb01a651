"""Worst-case forget sets: the bi-level search of "Challenging Forgets" (Fan et al., ECCV 2024,
arXiv 2403.07362; /work/shared/papers/NOTES.md).

Upper level: over data weights ``w`` in ``S = {w in [0, 1]^N, sum(w) = m}`` minimise
``sum_i w_i * loss(theta_u(w); z_i) + gamma * ||w||^2``: the points whose loss stays *low after
unlearning* are the hardest to forget. Lower level: ``theta_u(w)`` = a few epochs of a weighted
unlearner started from the original ``theta_o`` (weighted FT: ``sum_i (1 - w_i) loss(theta; z_i)``;
also RL, l1-sparse, SCRUB and a retrain-style variant). The two alternate: each outer step restarts the
lower level from ``theta_o`` (as the reference code reloads the checkpoint), then takes one projected
gradient step ``w <- P_S(w - eta * (loss + 2 * gamma * w))``; ``P_S`` finds by bisection the shift
``mu`` with ``sum(clamp(w - mu, 0, 1)) = m``. The result is binarised to the top-m weights.
``mode="easiest"`` flips the sign of the loss term (maximise the forget loss after unlearning). With
``normalize`` (default) the loss term is divided by the median loss, so ``w_lr`` is a step in units of a
typical loss; the regulariser is not, since scaling ``2 gamma w`` by ``1 / median`` as well would reverse
the order of ``w`` as soon as that product exceeds 1.

The class-wise variant puts one weight on each class (``sum = K``); a sample's weight in the lower level
is its class's, the upper-level gradient of a class is the mean loss of its samples after unlearning.

Deviations from the reference code (OPTML-Group/Unlearn-WorstCase, ``data-wise``), recorded in
docs/worst-case.md: ``w`` starts uniform at ``m/N`` (the reference starts from a random binary set,
from which its ``w_lr = 0.01`` steps can hardly move the top-m); the lower level uses plain SGD through
the shared training loop and a batch *mean* of the weighted losses (the reference uses sign-SGD on the
batch sum, whose step does not depend on the loss scale).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from ..data.images import ImageDataset
from ..errors import ConfigError
from ..config import TrainingConfig, param
from ..methods.classifier.distill import frozen_copy, teacher_logits
from ..methods.classifier.l1_sparse import L1SparseConfig, l1_norm, l1_weight
from ..methods.classifier.random_label import random_labels
from ..methods.classifier.scrub import ScrubConfig
from ..models.classifier import reinitialize
from ..training import fit
from ..training.loop import Batch, LossFn
from ..training.predict import predict_logits
from ..utils.progress import progress
from ..utils.seeding import seed_everything
from ..tasks.forget import write_indices_file

LOWER_METHODS = ("finetune", "random_label", "l1_sparse", "scrub", "retrain")
_REF = "reference code OPTML-Group/Unlearn-WorstCase"


@dataclass
class WorstCaseConfig(TrainingConfig):
    """The search's settings. ``epochs``/``lr``/``batch_size``/optimiser fields are the lower level's."""

    lower: Literal["finetune", "random_label", "l1_sparse", "scrub", "retrain"] = param(
        "finetune", "weighted unlearner of the lower level"
    )
    mode: Literal["hardest", "easiest"] = param("hardest", "hardest = worst case; easiest flips the objective")
    outer_steps: int = param(
        5, f"upper-level steps, each after a fresh lower level ({_REF} select_epochs: 2 in its CIFAR-10 example)", ge=1
    )
    epochs: int = param(1, f"lower-level epochs over the weighted training set per outer step ({_REF} unlearn_steps: 2)")
    lr: float = param(0.01, "lower-level learning rate (the FT / RL papers' 0.01)")
    batch_size: int = param(256, "lower-level batch size (CIFAR-10 scale; the bench's recipes scale it down)")
    w_lr: float = param(
        0.1,
        f"upper-level step on the per-sample losses, in units of the median loss (see normalize; "
        f"{_REF} w_lr: 0.01 on raw losses from a binary start)", gt=0,
    )
    gamma: float = param(0.0, f"weight of gamma * ||w||^2 in the upper level ({_REF} default: 0)", ge=0)
    normalize: bool = param(
        True, "divide the loss term of each upper step by the median per-sample loss (w_lr * loss / median; the gamma "
        "term keeps w_lr): a trained model's losses span 1e-7..1, so a fixed step either never moves w or empties it; "
        "False = the reference's raw step",
    )


@dataclass
class WorstCaseResult:
    """The chosen set (sorted training indices), the final continuous weights and the search record."""

    indices: np.ndarray
    weights: np.ndarray
    size: int
    mode: str
    lower: str
    seed: int
    seconds: float
    classes: tuple[int, ...] | None = None
    #: per outer step: objective sum(w * loss) + gamma ||w||^2, mean loss of the current top-m, overlap with the previous top-m
    history: list[dict[str, float]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "size": self.size, "mode": self.mode, "lower": self.lower, "seed": self.seed, "seconds": self.seconds,
            "classes": list(self.classes) if self.classes is not None else None, "forget_size": int(len(self.indices)),
            "history": self.history,
        }

    def write(self, path: str, header: dict[str, Any] | None = None) -> None:
        """Write the indices as an ``indices:FILE`` file (one per line, '#' comment header)."""
        lines = ["obliviate worst-case forget set (Fan et al. 2024); use as --forget indices:FILE",
                 "indices are positions in the dataset's training split (the same --max-train subset)"]
        fields = {"mode": self.mode, "lower": self.lower, "seed": self.seed, "forget_size": len(self.indices),
                  "search_seconds": round(self.seconds, 3), **(header or {})}
        if self.classes is not None:
            fields["classes"] = ",".join(str(c) for c in self.classes)
        lines.append(" ".join(f"{k}={v}" for k, v in fields.items()))
        write_indices_file(path, self.indices, "\n".join(lines))


def project_capped_simplex(v: torch.Tensor, m: float, *, tol: float = 1e-10, max_iter: int = 200) -> torch.Tensor:
    """Euclidean projection of ``v`` onto ``{w in [0, 1]^N : sum(w) = m}``: ``clamp(v - mu, 0, 1)`` with
    ``mu`` found by bisection (the sum is non-increasing in ``mu``). Works in float64."""
    v = torch.as_tensor(v, dtype=torch.float64)
    n = v.numel()
    if not 0 <= m <= n:
        raise ConfigError(f"cannot project onto sum(w) = {m} with {n} weights in [0, 1]")
    lo, hi = float(v.min()) - 1.0, float(v.max())  # sum(lo) = n >= m, sum(hi) = 0 <= m
    for _ in range(max_iter):
        mu = 0.5 * (lo + hi)
        total = float(torch.clamp(v - mu, 0.0, 1.0).sum())
        if abs(total - m) <= tol:
            break
        if total > m:
            lo = mu
        else:
            hi = mu
    return torch.clamp(v - mu, 0.0, 1.0)


def top_m(weights: torch.Tensor | np.ndarray, m: int) -> np.ndarray:
    """Sorted indices of the ``m`` largest weights; ties go to the lower index (deterministic)."""
    w = np.asarray(torch.as_tensor(weights).detach().cpu().numpy(), dtype=np.float64)
    order = np.lexsort((np.arange(len(w)), -w))
    return np.sort(order[:m])


def weighted_loss(lower: str, config: WorstCaseConfig, teacher: nn.Module | None = None) -> LossFn:
    """The lower level's loss on the ``"train"`` stream ``(x, y, w, y_random)``: per-sample losses
    weighted by ``1 - w`` (learn) and, for RL / SCRUB, by ``w`` (unlearn), averaged over the batch."""
    scrub = ScrubConfig()

    def loss_fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        x, y, w, y_rand = batch["train"]
        logits = model(x)
        keep = (1.0 - w) * F.cross_entropy(logits, y, reduction="none")
        if lower == "random_label":
            return (keep + w * F.cross_entropy(logits, y_rand, reduction="none")).mean()
        if lower == "scrub":  # per-sample KL(teacher || student) at temperature T, scaled by T^2
            t = scrub.temperature
            kl = F.kl_div(F.log_softmax(logits / t, dim=1), F.log_softmax(teacher_logits(teacher, x) / t, dim=1),
                          reduction="none", log_target=True).sum(1) * t**2
            return ((1.0 - w) * (scrub.gamma * F.cross_entropy(logits, y, reduction="none") + scrub.alpha * kl)
                    - w * kl).mean()
        return keep.mean()

    return loss_fn


def run_lower_level(
    model: nn.Module, train: ImageDataset, sample_w: torch.Tensor, num_classes: int, config: WorstCaseConfig,
    *, seed: int, y_rand: torch.Tensor | None = None, desc: str = "lower level",
) -> nn.Module:
    """theta_u(w): ``config.epochs`` of the weighted unlearner on the whole training set, in place.
    ``y_rand``: the random labels of the ``random_label`` unlearner (default: drawn from ``seed``)."""
    if train.y is None:
        raise ConfigError("the worst-case search needs the training labels")
    if y_rand is None:
        y_rand = random_labels(len(train), num_classes, seed)
    stream = TensorDataset(train.x, train.y, sample_w.to(torch.float32), y_rand)
    teacher = frozen_copy(model) if config.lower == "scrub" else None
    epoch_hook = None
    if config.lower == "retrain":
        reinitialize(model, seed)
    loss = weighted_loss(config.lower, config, teacher)
    if config.lower == "l1_sparse":
        loss, epoch_hook = _with_l1(loss, L1SparseConfig().alpha, config.epochs)
    fit(model, loss, {"train": stream}, epochs=config.epochs, batch_size=config.batch_size, optim=config.optim(),
        seed=seed, epoch_hook=epoch_hook, desc=desc)
    return model


def _with_l1(base: LossFn, alpha: float, epochs: int) -> tuple[LossFn, Any]:
    """``base + gamma_t * ||theta||_1`` with l1-sparse's linearly decaying gamma_t (Jia et al. 2023)."""
    state = {"gamma": 0.0}

    def epoch_hook(_model: nn.Module, epoch: int) -> None:
        state["gamma"] = l1_weight(epoch, alpha, epochs)

    def loss_fn(model: nn.Module, batch: Batch) -> torch.Tensor:
        return base(model, batch) + state["gamma"] * l1_norm(model)

    return loss_fn, epoch_hook


def per_sample_loss(model: nn.Module, data: ImageDataset) -> torch.Tensor:
    """Cross-entropy of every sample under ``model`` (eval mode), float64 on the CPU."""
    logits = predict_logits(model, data.x, desc="losses")
    return F.cross_entropy(logits.double(), data.y, reduction="none")


def search_worst_case(
    original: nn.Module, train: ImageDataset, num_classes: int, size: int, config: WorstCaseConfig | None = None,
    *, seed: int = 0, classes: int | None = None,
) -> WorstCaseResult:
    """Run the bi-level search from ``original`` (not modified) and return the top-``size`` set, or with
    ``classes=K`` the K worst classes (``size`` ignored; the set is every sample of those classes)."""
    import copy

    config = config or WorstCaseConfig()
    config.validate()
    n = len(train)
    if train.y is None:
        raise ConfigError("the worst-case search needs the training labels")
    labels = train.y.long()
    if classes is not None:
        counts = torch.bincount(labels, minlength=num_classes)
        present = int((counts > 0).sum())
        if not 0 < classes < present:
            raise ConfigError(f"classes must be in 1..{present - 1} (the training set holds {present} classes), got {classes}")
        m, present = classes, counts > 0
    else:
        if not 0 < size < n:
            raise ConfigError(f"the worst-case set size must be in 1..{n - 1} for a {n}-sample training set, got {size}")
        m, present = size, torch.ones(n, dtype=torch.bool)
    start = time.perf_counter()
    seed_everything(seed)
    w = torch.where(present, m / int(present.sum()), 0.0).to(torch.float64)
    sign = 1.0 if config.mode == "hardest" else -1.0
    history: list[dict[str, float]] = []
    previous = top_m(w, m)
    y_rand = random_labels(n, num_classes, seed)  # fixed for the whole search
    for step in progress(range(config.outer_steps), desc=f"worst-case search ({config.lower})", unit="step"):
        sample_w = w[labels] if classes is not None else w
        model = run_lower_level(copy.deepcopy(original), train, sample_w, num_classes, config,
                                seed=seed + 1000 * step, y_rand=y_rand, desc=f"lower level {step + 1}")
        loss = per_sample_loss(model, train)
        if classes is not None:  # mean loss per class
            loss = torch.zeros(num_classes, dtype=torch.float64).index_add_(0, labels, loss) / counts.clamp(min=1)
        # normalised step: the loss term in units of a typical loss, the regulariser in w_lr units
        # (scaling 2*gamma*w by 1/median(loss) too would flip the order of w once 2*eta*gamma > 1)
        scale = max(float(loss[present].median()), 1e-12) if config.normalize else 1.0
        step_w = w - config.w_lr * (sign * loss / scale + 2 * config.gamma * w)
        w = torch.zeros_like(w)
        w[present] = project_capped_simplex(step_w[present], m)  # a class without samples keeps weight 0
        chosen = top_m(w, m)
        history.append({
            "step": step + 1,
            "objective": float((w * sign * loss).sum() + config.gamma * (w * w).sum()),
            "chosen_mean_loss": float(loss[torch.as_tensor(chosen)].mean()),
            "mean_loss": float(loss[present].mean()),
            "overlap_with_previous": float(len(np.intersect1d(chosen, previous)) / m),
        })
        previous = chosen
    if classes is not None:
        chosen_classes = tuple(int(c) for c in previous)
        indices = np.flatnonzero(np.isin(labels.numpy(), chosen_classes))
    else:
        chosen_classes, indices = None, previous
    return WorstCaseResult(
        indices=np.sort(indices).astype(np.int64), weights=w.numpy(), size=m, mode=config.mode, lower=config.lower,
        seed=seed, seconds=time.perf_counter() - start, classes=chosen_classes, history=history,
    )


def resolve_size(size: str | int | float, n: int) -> int:
    """A set size given as a count (``500``) or a fraction of the training set (``0.1``)."""
    text = str(size).strip()
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"size must be a count (e.g. 500) or a fraction (e.g. 0.1), got {size!r}") from None
    count = int(value) if text.lstrip("+-").isdigit() else int(round(value * n)) if 0 < value < 1 else -1
    if not 0 < count < n:
        raise ConfigError(f"size {size!r} must give 1..{n - 1} samples of a {n}-sample training set "
                          "(a count, or a fraction strictly between 0 and 1)")
    return count
