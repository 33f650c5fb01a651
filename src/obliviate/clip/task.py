"""Domain forget requests and the domain-unlearning task.

Specs: ``domain:sketch`` or ``domain:sketch,clipart`` (these domains are forgotten, every other domain
of the data is memorised) and, for benchmarks, ``domain:any=K``: every combination of K domains, each
its own task, the results averaged (ADU's protocol for |D_forget| in {1, 2, 3}).

:class:`DomainUnlearnData` is what a ``clip`` method may see: the few-shot training images of the
memorised and of the forgotten domains (x, class y, domain index d). The test split never reaches it.
Decision: as in the paper's few-shot prompt-learning setting, methods train on ``shots`` images per
(domain, class) drawn from the training split with the task's seed.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ..errors import ForgetSpecError
from .domains import MultiDomainData, few_shot

_ANY = re.compile(r"^any=(\d+)$")


def parse_domain_spec(spec: str, domains: Sequence[str]) -> list[tuple[str, ...]]:
    """The forget-domain combinations a spec names (one for an explicit list, all of size K for ``any=K``)."""
    domains = tuple(domains)
    kind, sep, body = spec.strip().partition(":")
    if kind != "domain" or not sep or not body.strip():
        raise ForgetSpecError(f"a clip forget spec looks like domain:sketch, domain:sketch,clipart or domain:any=2; got {spec!r}")
    body = body.strip()
    match = _ANY.match(body)
    if match:
        k = int(match.group(1))
        if not 1 <= k < len(domains):
            raise ForgetSpecError(f"{spec}: K must be between 1 and {len(domains) - 1} (one domain must stay memorised)")
        return list(itertools.combinations(domains, k))
    names = [n.strip() for n in body.split(",") if n.strip()]
    problems = []
    unknown = [n for n in names if n not in domains]
    if unknown:
        problems.append(f"unknown domain(s) {unknown}; this data has {list(domains)}")
    if len(set(names)) != len(names):
        problems.append(f"domains repeat in {names}")
    if not unknown and len(set(names)) >= len(domains):
        problems.append("every domain would be forgotten; at least one must stay memorised")
    if problems:
        raise ForgetSpecError(f"{spec}: " + "; ".join(problems))
    return [tuple(n for n in domains if n in names)]  # the data's domain order


def spec_of(forget: Sequence[str]) -> str:
    return "domain:" + ",".join(forget)


@dataclass(frozen=True)
class DomainUnlearnData:
    """What a ``clip`` method may see: few-shot training images of memorised and forgotten domains."""

    memorise: TensorDataset
    forget: TensorDataset
    domains: tuple[str, ...]
    forget_domains: tuple[str, ...]
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class DomainTask:
    """Multi-domain data + the forgotten domains + the few-shot training subset (``shots``, ``seed``)."""

    data: MultiDomainData
    forget_domains: tuple[str, ...]
    seed: int = 0
    shots: int = 16

    @classmethod
    def build(cls, data: MultiDomainData, spec: str, seed: int = 0, shots: int = 16) -> "DomainTask":
        combos = parse_domain_spec(spec, data.domains)
        if len(combos) != 1:
            raise ForgetSpecError(f"{spec} names {len(combos)} forget sets; a task takes one (domain:a,b)")
        return cls(data, combos[0], seed, shots)

    @property
    def forget_index(self) -> torch.Tensor:
        return torch.tensor([self.data.domains.index(n) for n in self.forget_domains])

    def _train_indices(self) -> tuple[np.ndarray, np.ndarray]:
        split = self.data.train
        keep = few_shot(split, self.shots, self.seed, len(self.data.domains), self.data.num_classes)
        forgotten = torch.isin(split.d[keep], self.forget_index).numpy()
        return keep[~forgotten], keep[forgotten]

    def unlearn_data(self) -> DomainUnlearnData:
        """Few-shot memorise and forget training images only (never the test split)."""
        mem, fgt = self._train_indices()
        split = self.data.train
        to_ds = lambda idx: TensorDataset(split.x[idx], split.y[idx], split.d[idx])  # noqa: E731
        return DomainUnlearnData(to_ds(mem), to_ds(fgt), self.data.domains, self.forget_domains, self.data.class_names)

    def describe(self) -> dict:
        mem, fgt = self._train_indices()
        return {"dataset": self.data.name, "scenario": "domain", "forget_size": int(len(fgt)),
                "retain_size": int(len(mem)), "forget_spec": spec_of(self.forget_domains),
                "domains": list(self.data.domains), "shots": self.shots}
