"""obliviate.config: declarative constraints, one error listing every problem, coercion, nested configs
(dict and dotted overrides, also through the CLI's --param), describe() and inherited defaults."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import pytest

from obliviate.bench.options import method_params as _method_params
from obliviate.cli import main
from obliviate.config import ClippedTrainingConfig, Config, MethodConfig, TrainingConfig, param
from obliviate.errors import ConfigError
from obliviate.methods import METHODS, get_method, load_all


@dataclass
class Inner(Config):
    epsilon: float = param(0.5, "privacy budget", gt=0)
    delta: float = param(1e-5, "failure probability", gt=0, lt=1)
    mode: Literal["a", "b"] = param("a", "a mode")

    def check(self) -> list[str]:
        return [f"delta {self.delta} must be below epsilon {self.epsilon}"] if self.delta >= self.epsilon else []


@dataclass
class Outer(Config):
    lr: float = param(0.01, "learning rate", gt=0)
    steps: int = param(3, "steps", ge=0)  # noop at 0 by name (NOOP_VALUES)
    frac: float = param(0.5, "a fraction", ge=0, le=1)
    top: int = param(5, "an upper bound only", lt=10)
    kind: str = param("x", "explicit choices", choices=("x", "y"))
    alpha: float = param(1.0, "alpha", noop=0.0)
    flag: bool = param(False, "a flag")
    limit: int | None = param(None, "optional, >= 1", ge=1)
    inner: Inner = param(Inner(), "nested settings")

    def check(self) -> list[str]:
        return ["frac must be 0 when alpha is 2"] if self.alpha == 2 and self.frac != 0 else []


def _error(cls: type[Config], params: dict) -> str:
    with pytest.raises(ConfigError) as info:
        cls.from_params(params)
    return str(info.value)


@pytest.mark.parametrize("params, message", [
    ({"lr": 0}, "lr must be > 0, got 0.0"),
    ({"steps": -1}, "steps must be >= 0, got -1"),
    ({"frac": 1.5}, "frac must be in [0, 1], got 1.5"),
    ({"top": 10}, "top must be < 10, got 10"),
    ({"kind": "z"}, "kind must be one of ['x', 'y'], got 'z'"),
    ({"alpha": 0.0}, "alpha=0.0 makes the method a no-op"),
    ({"steps": 0}, "steps=0 makes the method a no-op"),
    ({"lr": float("inf")}, "lr must be finite, got inf"),
    ({"limit": 0}, "limit must be >= 1, got 0"),
    ({"inner.delta": 1.0}, "inner.delta must be in (0, 1), got 1.0"),
    ({"inner": {"mode": "c"}}, "inner.mode must be one of ['a', 'b'], got 'c'"),
    ({"alpha": 2.0}, "frac must be 0 when alpha is 2"),
    ({"inner.epsilon": 1e-6}, "inner.delta 1e-05 must be below epsilon 1e-06"),
])
def test_each_constraint_kind_names_the_field_and_the_value(params, message):
    text = _error(Outer, params)
    assert text.startswith("Outer: ") and message in text, text


def test_direct_construction_is_checked_by_validate():
    Outer().validate()
    with pytest.raises(ConfigError, match=re.escape("Outer: lr must be > 0, got -1; inner.epsilon must be > 0")):
        Outer(lr=-1, inner=Inner(epsilon=0.0)).validate()
    with pytest.raises(ConfigError, match="kind must be one of"):
        Outer(kind="z").validate()
    with pytest.raises(ConfigError, match="lr must be a number, got 'fast'"):
        Outer(lr="fast").validate()  # type: ignore[arg-type]


def test_one_error_lists_every_problem():
    text = _error(Outer, {"lr": "-1", "frac": 2, "kind": "z", "flag": "maybe", "stpes": 1, "inner.delta": 0})
    assert text.startswith("Outer: ") and text.count(";") >= 5
    for part in ("lr must be > 0", "frac must be in [0, 1]", "kind must be one of", "flag expects bool, got 'maybe'",
                 "unknown parameter 'stpes' (did you mean 'steps'?)", "inner.delta must be in (0, 1), got 0"):
        assert part in text, (part, text)


def test_coercion_of_cli_strings():
    c = Outer.from_params({"lr": "0.02", "steps": "7", "flag": "yes", "limit": "4", "kind": "y", "inner.mode": "b"})
    assert (c.lr, c.steps, c.flag, c.limit, c.kind, c.inner.mode) == (0.02, 7, True, 4, "y", "b")
    assert isinstance(c.steps, int) and isinstance(c.lr, float)
    assert Outer.from_params({"flag": "off", "limit": "none"}).flag is False
    assert Outer.from_params({"limit": "null"}).limit is None
    assert isinstance(Outer.from_params({"lr": 1}).lr, float)  # an int where a float is expected
    assert "steps expects int, got 'many'" in _error(Outer, {"steps": "many"})
    assert "lr expects float, got 'x'" in _error(Outer, {"lr": "x"})
    assert "inner.mode must be one of ['a', 'b'], got 'c'" in _error(Outer, {"inner.mode": "c"})


def test_nested_dict_and_dotted_overrides():
    assert Outer.from_params({"inner": {"epsilon": 2.0}}).inner.epsilon == 2.0
    assert Outer.from_params({"inner.epsilon": "2.0"}).inner.epsilon == 2.0
    mixed = Outer.from_params({"inner": {"epsilon": 2.0, "delta": 0.1}, "inner.epsilon": "3"})
    assert (mixed.inner.epsilon, mixed.inner.delta) == (3.0, 0.1)  # a later key wins, as in {**a, **b}
    assert Outer.from_params({"inner.epsilon": "3", "inner": {"epsilon": 2.0}}).inner.epsilon == 2.0
    assert Outer.from_params({"inner": Inner(epsilon=4.0)}).inner.epsilon == 4.0
    assert Outer().inner is not Outer().inner  # the nested default is copied per instance
    assert Outer.from_params({"inner.delta": 0.2}).inner.epsilon == 0.5  # the rest keep their defaults
    text = _error(Outer, {"inner.epsilom": 1, "lr.x": 1, "inner": 3})
    assert "unknown parameter 'inner.epsilom' (did you mean 'inner.epsilon'?)" in text
    assert "'lr.x'" in text and "inner expects a Inner or a dict of its params, got 3" in text


def test_as_dict_nests_and_describe_flattens():
    c = Outer.from_params({"inner.epsilon": 2.0})
    assert c.as_dict()["inner"] == {"epsilon": 2.0, "delta": 1e-5, "mode": "a"}
    assert c.as_flat_dict()["inner.epsilon"] == 2.0 and Outer.from_params(c.as_flat_dict()) == c
    assert Outer.from_params(c.as_dict()) == c
    rows = {name: (type_name, default, help_text) for name, type_name, default, help_text in Outer.describe()}
    assert list(rows)[-3:] == ["inner.epsilon", "inner.delta", "inner.mode"]
    assert rows["inner.epsilon"] == ("float", 0.5, "privacy budget") and rows["lr"] == ("float", 0.01, "learning rate")
    assert Outer.names() == list(rows)


def test_redeclared_defaults_keep_the_base_type_and_constraints():
    @dataclass
    class Fast(ClippedTrainingConfig):
        lr = param(0.5, "a faster learning rate")
        optimizer = param("adam", "adam here")
        epochs = param(2, "at least one epoch here", ge=1)
        momentum = 0.5  # a bare new default keeps the base's help and constraints too

    c = Fast.from_params({"lr": "0.25"})
    assert c.momentum == 0.5 and dict((n, h) for n, _, _, h in Fast.describe())["momentum"] == "SGD momentum"
    assert c.lr == 0.25 and c.optimizer == "adam" and c.max_grad_norm == 1.0
    assert [f for f in Fast.names()] == [*TrainingConfig.names(), "max_grad_norm"]
    assert "lr must be > 0, got 0.0" in _error(Fast, {"lr": 0})
    assert "optimizer must be one of ['sgd', 'adam', 'adamw']" in _error(Fast, {"optimizer": "lbfgs"})
    assert "momentum must be in [0, 1)" in _error(Fast, {"momentum": 1})
    assert "epochs=0 makes the method a no-op" in _error(Fast, {"epochs": 0})
    assert "epochs must be >= 1, got -1" in _error(Fast, {"epochs": -1})
    assert dict((n, h) for n, _, _, h in Fast.describe())["lr"] == "a faster learning rate"


def test_every_check_runs_without_super():
    @dataclass
    class Base(MethodConfig):
        a: int = param(1, "a")

        def check(self) -> list[str]:
            return ["a is odd"] if self.a % 2 else []

    @dataclass
    class Child(Base):
        b: int = param(1, "b")

        def check(self) -> list[str]:
            return ["b is odd"] if self.b % 2 else []

    with pytest.raises(ConfigError, match=re.escape("Child: a is odd; b is odd")):
        Child().validate()


# ------------------------------------------------------------------------------ the real configs

def test_optimiser_defaults_are_unchanged():
    from obliviate.lm.dp import DPTrainConfig
    from obliviate.lm.train import LMTrainConfig
    from obliviate.methods.lm.common import LMUnlearnConfig

    optim = ("epochs", "lr", "batch_size", "optimizer", "momentum", "weight_decay", "schedule", "max_grad_norm")
    expected = {
        LMTrainConfig: (30, 3e-3, 16, "adam", 0.9, 0.0, "cosine", 1.0),
        LMUnlearnConfig: (10, 1e-5, 32, "adam", 0.9, 0.0, "constant", 1.0),
        DPTrainConfig: (10, 5e-5, 16, "sgd", 0.0, 0.01, "constant", 1.0),
        get_method("lm/dp2").Config: (5, 5e-5, 16, "adam", 0.9, 0.0, "cosine", 1.0),
    }
    for cls, values in expected.items():
        assert tuple(getattr(cls(), n) for n in optim) == values, cls.__name__
    dp = get_method("lm/dp2").Config().dp
    assert (dp.epsilon, dp.delta, dp.accountant) == (0.5, 1e-12, "rdp")
    assert DPTrainConfig().as_dict() == dp.as_dict()


def test_dp2_params_through_the_cli_split_on_the_first_dot():
    params = _method_params(["dp2.dp.epsilon=0.25", "dp2.lr=0.001", "finetune.lr=0.02"])
    assert params == {"dp2": {"dp.epsilon": "0.25", "lr": "0.001"}, "finetune": {"lr": "0.02"}}
    config = get_method("lm/dp2").Config.from_params(params["dp2"])
    assert config.dp.epsilon == 0.25 and config.lr == 0.001 and config.dp.lr == 5e-5
    assert config.as_dict()["dp"]["epsilon"] == 0.25
    with pytest.raises(ConfigError, match="dp.delta must be in"):
        get_method("lm/dp2").Config.from_params({"dp.delta": "2"})


def test_ls_methods_verbose_shows_nested_params_dotted(capsys):
    assert main(["ls", "methods", "-v"]) == 0
    out = capsys.readouterr().out
    assert "dp.epsilon (float, default 0.5)" in out and "dp.lr (float, default 5e-05)" in out


def test_every_method_config_validates_its_defaults_and_refuses_bad_bounds():
    load_all()
    for cls in METHODS.classes():
        config = cls.Config()
        config.validate()
        names = set(cls.Config.names())
        for name, bad in (("lr", 0), ("batch_size", 0), ("epochs", -1), ("max_grad_norm", -1), ("momentum", 1.0),
                          ("weight_decay", -1.0), ("retain_weight", -1.0)):
            if name in names:
                with pytest.raises(ConfigError, match=f"{name} must be"):
                    cls.Config.from_params({name: bad})
        floats = [n for n, t, d, _ in cls.Config.describe() if t == "float" and isinstance(d, float)]
        for name in floats:
            with pytest.raises(ConfigError, match=f"{re.escape(name)} must be finite"):
                cls.Config.from_params({name: math.nan})


def test_adamw_decouples_weight_decay():
    import torch

    from obliviate.config import OptimConfig

    param = torch.nn.Parameter(torch.ones(1))
    opt, _ = OptimConfig("adamw", 0.1, 0.9, 0.5, "constant").build([param], 1)
    assert isinstance(opt, torch.optim.AdamW)
    param.grad = torch.zeros(1)
    opt.step()  # a zero gradient: only the decoupled decay moves the weight, by lr * wd
    assert torch.allclose(param.detach(), torch.tensor([1 - 0.1 * 0.5]))
