import pytest

from obliviate.errors import ConfigError, UnknownNameError
from obliviate.methods import METHODS, get_method, load_all


def test_unknown_method_suggests_near_names():
    with pytest.raises(UnknownNameError, match="Did you mean 'finetune'"):
        get_method("fintune")
    with pytest.raises(ValueError, match="unknown method 'zzz'"):
        get_method("zzz")


def test_every_method_declares_its_contract():
    load_all()
    assert {"retrain", "finetune", "grad_ascent", "random_label"} <= set(METHODS.short_names("classifier"))
    assert {"retrain", "grad_ascent", "npo"} <= set(METHODS.short_names("lm"))
    for name in METHODS.names():
        cls = METHODS.get(name)
        assert f"{cls.family}/{cls.name}" == name and cls.family in ("classifier", "lm", "clip")
        assert cls.paper and cls.summary
        for pname, _type, _default, help_text in cls.Config.describe():
            assert help_text, f"{name}.{pname} has no help text"


def test_config_parsing_coerces_and_validates():
    cfg = get_method("finetune").Config.from_params({"lr": "0.02", "epochs": "3", "schedule": "cosine"})
    assert cfg.lr == 0.02 and cfg.epochs == 3 and cfg.schedule == "cosine"
    with pytest.raises(ConfigError, match="did you mean 'epochs'"):
        get_method("finetune").Config.from_params({"epoch": 3})
    with pytest.raises(ConfigError, match="lr must be"):
        get_method("finetune").Config.from_params({"lr": -1})
    with pytest.raises(ConfigError, match="expects int"):
        get_method("finetune").Config.from_params({"epochs": "many"})
    with pytest.raises(ConfigError, match="must be one of"):
        get_method("finetune").Config.from_params({"optimizer": "lbfgs"})
    with pytest.raises(ConfigError, match="epochs must be >= 0"):
        get_method("classifier/grad_ascent").Config.from_params({"epochs": -2})
