"""Teacher-student helpers shared by distillation-based methods (SCRUB, and any method that keeps a
frozen copy of the original model as a reference).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in eval mode with ``requires_grad=False`` everywhere: a teacher that
    no optimiser can see and whose BatchNorm statistics never change."""
    teacher = copy.deepcopy(model)
    teacher.eval()
    teacher.requires_grad_(False)
    return teacher


@torch.no_grad()
def teacher_logits(teacher: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The frozen teacher's logits for ``x``, moving the teacher to ``x``'s device on first use (the
    training loop places the student on the accelerator's device, the teacher stays where it was)."""
    param = next(teacher.parameters(), None)
    if param is not None and param.device != x.device:
        teacher.to(x.device)
    teacher.eval()
    return teacher(x)


def distill_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(p_teacher || p_student) of the temperature-``T`` softmaxes, summed over classes, averaged
    over the batch and scaled by ``T**2`` (Hinton et al. 2015; the ``DistillKL`` loss of RepDistiller,
    which SCRUB's reference code uses). Gradients flow into ``student_logits`` only if the caller
    detached the teacher's."""
    if not temperature > 0:
        raise ConfigError(f"the distillation temperature must be > 0, got {temperature}")
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)
    log_p_t = F.log_softmax(teacher_logits / temperature, dim=1)
    return F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True) * temperature**2
