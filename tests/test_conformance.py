"""Conformance of every registered LM and CLIP method (the classifier family's is tests/test_methods.py).

For each case of :data:`CASES` (every registered method of those families, plus the variants that change
what a method trains: npo's retain terms, whp's two-model mode): the result differs from its input where
the method says it should, its outputs are finite, it saves and reloads bit-identically through the
family's own save/load, two runs under one seed agree bit for bit whatever the global RNG state, bad
configs are ConfigErrors, and on a tiny task it behaves like retraining would:

- LM (tiny bios, tests/lm_support.py): the forget texts' NLL moves toward the retrained model's.
- CLIP (clip_support.behaviour_data, a tiny CLIP whose image side is trained on it,
  clip_support.pretrained_backbone): the forgotten domain's test accuracy falls while the memorised
  domains' mean holds.

Inference-time methods have no new weights to save: eco wraps the unchanged model (its documented
equivalent of "parameters change" is that flagged inputs give other outputs), whp's ``mode=logits``
combines two models. Saving either is a ConfigError, and the models inside round-trip instead.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from clip_support import behaviour_data, classifier, pretrained_backbone
from lm_support import one_torch_thread, trained_tiny_bios  # noqa: F401  (autouse fixture)
from obliviate.errors import ConfigError
from obliviate.methods import METHODS, load_all

load_all()
FAMILIES = ("lm", "clip")
REGISTERED = [n for family in FAMILIES for n in METHODS.names(family)]

#: The LM bench's tiny-model scaling of MUSE's recipe (as in tests/test_lm_methods.py).
TINY_LM = {"lr": 1e-3, "epochs": 5, "batch_size": 8}
CLIP_PARAMS = {"epochs": 20, "batch_size": 32, "lr": 0.05}  # the methods' defaults but the batch
DP = {"dp.epsilon": 8.0, "dp.delta": 1e-5}
#: dp2's DP-SGD base as in tests/test_lm_dp2.py (epsilon 8, 6 epochs of Adam)
DP_BASE = {**DP, "dp.epochs": 6, "dp.lr": 3e-3, "dp.optimizer": "adam", "dp.weight_decay": 0.0}
CLIP_DOMAINS, CLIP_FORGET, CLIP_SHOTS = ("photo", "sketch", "painting", "clipart"), "sketch", 8


@dataclass(frozen=True)
class Case:
    """One method run: its registered name, quick parameters, a bad value of a known parameter, and the
    overrides for the (shorter) determinism runs."""

    method: str
    params: dict[str, Any]
    bad: dict[str, Any]
    variant: str = ""
    quick: dict[str, Any] = field(default_factory=lambda: {"epochs": 1})

    @property
    def id(self) -> str:
        return f"{self.method}[{self.variant}]" if self.variant else self.method

    @property
    def family(self) -> str:
        return METHODS.get(self.method).family

    def config(self, **overrides: Any):
        return METHODS.get(self.method).Config.from_params({**self.params, **overrides})


CASES = [
    Case("lm/grad_ascent", TINY_LM, {"lr": 0}),
    Case("grad_diff", TINY_LM, {"retain_weight": -1}),
    Case("kl", TINY_LM, {"max_grad_norm": -1}),
    Case("npo", TINY_LM, {"retain_loss": "both"}),
    Case("npo", {**TINY_LM, "retain_loss": "gdr"}, {"beta": "high"}, variant="gdr"),
    Case("npo", {**TINY_LM, "retain_loss": "klr"}, {"epochs": -1}, variant="klr"),
    Case("simnpo", TINY_LM, {"batch_size": 0}),
    Case("task_vector", TINY_LM, {"alpha": float("nan")}),
    Case("lm/retrain", {"epochs": 25, "lr": 3e-3, "batch_size": 16}, {"optimizer": "lbfgs"}, quick={"epochs": 2}),
    Case("whp", {**TINY_LM, "alpha": 1.0}, {"alpha": -1}),
    Case("whp", {**TINY_LM, "alpha": 1.0, "mode": "logits"}, {"mode": "both"}, variant="logits"),
    Case("eco", {"classifier": "lm_embeddings"}, {"fpr": 1.5}, quick={"zo_steps": 4}),
    Case("dp2", {**DP, "epochs": 5, "lr": 5e-3}, {"dp.delta": 2.0}),
    # the tiny Llama's 2 layers (RMU's defaults steer layer 7 of Zephyr-7B); as in tests/test_lm_rmu.py
    Case("rmu", {"layer_id": 1, "layer_ids": "0,1", "lr": 1e-3, "epochs": 20, "steering_coeff": 20.0, "alpha": 100.0},
         {"steering_coeff": 0}),
    Case("domain_baseline", CLIP_PARAMS, {"n_prompts": 0}),
    # at ADU's mmd_weight 1 the tiny CLIP's memorised accuracy collapsed (mean 74 -> 21 under
    # ATEN_CPU_CAPABILITY=default, 76 -> 10 at lr 0.02 natively); at 0.3 it held within 7 points everywhere
    Case("adu", {**CLIP_PARAMS, "mmd_weight": 0.3}, {"mmd_weight": -0.5}),
]
IDS = [c.id for c in CASES]


def test_every_registered_method_has_a_conformance_case():
    cased = {f'{c.family}/{METHODS.get(c.method).name}' for c in CASES}
    assert cased == set(REGISTERED), set(REGISTERED) ^ cased
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_bad_configs_are_config_errors(case):
    case.config()  # the case's own parameters are valid
    cls = METHODS.get(case.method)
    with pytest.raises(ConfigError, match="unknown parameter"):
        cls.Config.from_params({"definitely_not_a_parameter": 1})
    (name,) = case.bad
    with pytest.raises(ConfigError, match=name):
        case.config(**case.bad)


# ------------------------------------------------------------------------------------------ the runs


@dataclass
class LMSetup:
    task: Any
    original: torch.nn.Module
    dp_base: torch.nn.Module | None


@dataclass
class ClipSetup:
    data: Any
    backbone: Any
    unlearn_data: Any
    forget: tuple[str, ...]


class Runner:
    """Builds each family's fixture on first use and runs cases; every case's seed-0 result is kept."""

    def __init__(self) -> None:
        self._lm: LMSetup | None = None
        self._clip: ClipSetup | None = None
        self._results: dict[str, Any] = {}

    @property
    def lm(self) -> LMSetup:
        if self._lm is None:
            task, original = trained_tiny_bios()
            self._lm = LMSetup(task, original, None)
        return self._lm

    def dp_base(self) -> torch.nn.Module:
        """dp2's base: the tiny Llama trained with DP-SGD on every original text (kept)."""
        if self.lm.dp_base is None:
            self.lm.dp_base = self.train_dp_base()
        return self.lm.dp_base

    def train_dp_base(self, *, rng: int = 0, **overrides: Any) -> torch.nn.Module:
        """A DP-SGD base from dp2's own prepare_base (seed 0), torch's global RNG first set to ``rng``."""
        pytest.importorskip("opacus")
        from obliviate.lm.data import lm_dataset
        from obliviate.lm.model import tiny_llama

        dp2, tok = METHODS.get("dp2"), self.lm.task.tokenizer
        model = tiny_llama(len(tok), seed=0)
        torch.manual_seed(rng)
        dp2.prepare_base(model, lm_dataset(tok, self.lm.task.original_texts()),
                         dp2.Config.from_params({**DP_BASE, **overrides}), seed=0)
        return model

    @property
    def clip(self) -> ClipSetup:
        if self._clip is None:
            from obliviate.clip.task import DomainTask

            data = behaviour_data(CLIP_DOMAINS)
            task = DomainTask.build(data, f"domain:{CLIP_FORGET}", seed=0, shots=CLIP_SHOTS)
            self._clip = ClipSetup(data, pretrained_backbone(data), task.unlearn_data(), (CLIP_FORGET,))
        return self._clip

    def input_model(self, case: Case) -> torch.nn.Module:
        """A fresh copy of what ``case`` unlearns from."""
        if case.family == "clip":
            return classifier(self.clip.data, self.clip.backbone)
        base = self.dp_base() if METHODS.get(case.method).base_model == "dp" else self.lm.original
        return copy.deepcopy(base)

    def run(self, case: Case, *, seed: int = 0, rng: int = 0, **overrides: Any) -> torch.nn.Module:
        """Run ``case`` under ``seed``, with torch's global RNG first set to ``rng`` (which must not matter)."""
        model = self.input_model(case)
        data = self.clip.unlearn_data if case.family == "clip" else self.lm.task.unlearn_data()
        torch.manual_seed(rng)
        return METHODS.get(case.method)().run(model, data, case.config(**overrides), seed=seed)

    def result(self, case: Case) -> torch.nn.Module:
        if case.id not in self._results:
            self._results[case.id] = self.run(case)
        return self._results[case.id]

    def outputs(self, case: Case, model: torch.nn.Module) -> torch.Tensor:
        """Logits on a fixed input: forget and retain texts (LM), test images of every domain (CLIP)."""
        with torch.no_grad():
            if case.family == "clip":
                return model(self.clip.data.test.x[::4])
            ids, mask = self.lm_batch()
            return model(input_ids=ids, attention_mask=mask).logits

    def lm_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        from obliviate.lm.data import lm_dataset

        task = self.lm.task
        ids, mask, _ = lm_dataset(task.tokenizer, task.forget_texts()[:4] + task.retain_texts()[:4]).tensors
        return ids, mask


@pytest.fixture(scope="module")
def runner() -> Runner:
    return Runner()


def _lm_parts(result: torch.nn.Module) -> list[torch.nn.Module]:
    """The causal LMs a result is made of: itself, or the models inside an inference-time wrapper."""
    from obliviate.lm.eco import EcoGuard
    from obliviate.lm.whp_logits import WHPLogitsModel

    if isinstance(result, EcoGuard):
        return [result.model]
    if isinstance(result, WHPLogitsModel):
        return [result.baseline, result.reinforced]
    return [result]


def _rewrap(result: torch.nn.Module, parts: list[torch.nn.Module]) -> torch.nn.Module:
    """``result`` rebuilt around (reloaded) ``parts``."""
    from obliviate.lm.eco import EcoGuard
    from obliviate.lm.whp_logits import WHPLogitsModel

    if isinstance(result, EcoGuard):
        return EcoGuard(parts[0], result.classifier, corruption=result.corruption, strength=result.strength,
                        seed=result.seed)
    if isinstance(result, WHPLogitsModel):
        return WHPLogitsModel(parts[0], parts[1], result.alpha)
    return parts[0]


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ------------------------------------------------------------------------------------------ the tests


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_result_changes_and_its_outputs_are_finite(runner, case, monkeypatch):
    result = runner.result(case)
    out = runner.outputs(case, result)
    assert torch.isfinite(out).all()
    assert all(torch.isfinite(p).all() for p in result.parameters())
    if case.family == "clip":  # the trained prompts are the method's parameters (the backbone stays frozen)
        import obliviate.methods.clip.domain_baseline as prompt_methods

        with monkeypatch.context() as patch:  # the prompts as attached under the seed, before any training
            patch.setattr(prompt_methods, "fit", lambda *args, **kwargs: None)
            init = runner.run(case).prompts
        assert not _same_state(init, result.prompts), "prompts unchanged by training"
        return
    original = runner.input_model(case)
    parts = _lm_parts(result)
    if case.method == "eco":  # an inference-time guard: the same weights, other outputs for flagged inputs
        assert _same_state(parts[0], original)
        assert not torch.equal(out, runner.outputs(case, original))
    elif case.variant == "logits":  # whp's two models: the original and one fine-tuned on forget
        assert _same_state(parts[0], original) and not _same_state(parts[1], original)
    else:
        assert not _same_state(result, original), "parameters unchanged"


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_result_saves_and_reloads_bit_identically(runner, case, tmp_path):
    result = runner.result(case)
    if case.family == "clip":
        from obliviate.clip.model import load_clip, save_clip

        # clip/model.py saves the result's CLIP; the prompts are a state dict of their own (no saver yet)
        save_clip(dataclasses.replace(runner.clip.backbone, model=result.clip), tmp_path / "clip")
        loaded = classifier(runner.clip.data, load_clip(tmp_path / "clip"))
        assert _same_state(loaded.clip, result.clip)
        loaded.prompts = result.prompts
        assert torch.equal(runner.outputs(case, loaded), runner.outputs(case, result))
        return
    from obliviate.lm.model import load_causal_lm, save_causal_lm

    tok = runner.lm.task.tokenizer
    parts = _lm_parts(result)
    if parts != [result]:  # an inference-time wrapper is not one model: saving it says so, leaves nothing
        with pytest.raises(ConfigError, match="inference-time"):
            save_causal_lm(result, tok, tmp_path / "wrapper")
        assert not any(tmp_path.iterdir())
    loaded = []
    for i, part in enumerate(parts):
        save_causal_lm(part, tok, tmp_path / f"part{i}")
        model, _ = load_causal_lm(tmp_path / f"part{i}", dtype="float32", device="cpu")
        assert _same_state(model, part)
        loaded.append(model)
    assert torch.equal(runner.outputs(case, _rewrap(result, loaded)), runner.outputs(case, result))


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_deterministic_under_a_seed_whatever_the_global_rng(runner, case):
    a = runner.run(case, seed=3, rng=1, **case.quick)
    b = runner.run(case, seed=3, rng=2, **case.quick)
    assert _same_state(a, b)
    assert torch.equal(runner.outputs(case, a), runner.outputs(case, b))
    if getattr(METHODS.get(case.method), "base_model", None) == "dp":  # and so is the DP-SGD base it starts from
        assert _same_state(runner.train_dp_base(rng=1, **{"dp.epochs": 1}),
                           runner.train_dp_base(rng=2, **{"dp.epochs": 1}))


LM_CASES = [c for c in CASES if c.family == "lm"]
CLIP_CASES = [c for c in CASES if c.family == "clip"]
RETRAIN = next(c for c in CASES if c.method == "lm/retrain")
#: At least this fraction of the distance between the original's and the retrained model's forget NLL
#: must be closed (the smallest measured, whp's two-model mode, closes ~0.13; see the report in the test).
LM_CLOSES = 0.05


def _nll(runner: Runner, model: torch.nn.Module, split: str) -> float:
    from obliviate.metrics.lm_mia import score_sequences

    task = runner.lm.task
    return float(score_sequences(model, task.tokenizer, task.corpus.texts(split), ks=[40])["loss"].mean())


@pytest.mark.slow
@pytest.mark.behaviour
@pytest.mark.parametrize("case", LM_CASES, ids=[c.id for c in LM_CASES])
def test_lm_forget_nll_moves_toward_the_retrained_models(runner, case):
    retrained = runner.result(RETRAIN)
    if case is RETRAIN:  # never trained on the forget people: their texts read like the unseen holdout people's
        forget, holdout = _nll(runner, retrained, "forget"), _nll(runner, retrained, "holdout")
        assert abs(forget - holdout) < 0.25 * holdout, (forget, holdout)
        return
    before, target = _nll(runner, runner.lm.original, "forget"), _nll(runner, retrained, "forget")
    after = _nll(runner, runner.result(case), "forget")
    closed = (abs(before - target) - abs(after - target)) / abs(before - target)
    assert target > before + 1.0, "the fixture should give a clear forgetting task"
    assert closed >= LM_CLOSES, f"{case.id}: forget NLL {before:.2f} -> {after:.2f}, retrain {target:.2f}"


#: Test accuracy (points) the forgotten domain must lose at least, and the memorised domains' mean may
#: lose at most. The baseline's entropy term is weak on this tiny CLIP: measured under
#: ATEN_CPU_CAPABILITY=default / avx2 / avx512 and 1-2 threads, its forgotten-domain accuracy fell
#: 10.7-23.3 points (ADU's 49.7-55.0) and the memorised mean dropped at most 3.1 (ADU's 5.3).
CLIP_FALL, CLIP_HOLD = 5.0, 15.0


@pytest.mark.slow
@pytest.mark.behaviour
@pytest.mark.parametrize("case", CLIP_CASES, ids=[c.id for c in CLIP_CASES])
def test_clip_forgotten_domain_accuracy_falls_and_memorised_holds(runner, case):
    from obliviate.metrics.domain import evaluate_domain_model

    setup, test = runner.clip, runner.clip.data.test

    def accuracy(model: torch.nn.Module) -> dict[str, float]:
        return evaluate_domain_model(model, test.x, test.y, test.d, setup.data.domains, setup.forget)

    before, after = accuracy(runner.input_model(case)), accuracy(runner.result(case))
    forgotten = f"acc_{CLIP_FORGET}"
    assert min(before[f"acc_{d}"] for d in setup.data.domains) > 40, "the fixture should know every domain"
    assert before[forgotten] - after[forgotten] >= CLIP_FALL, (case.id, before, after)
    assert before["mem"] - after["mem"] <= CLIP_HOLD, (case.id, before, after)
