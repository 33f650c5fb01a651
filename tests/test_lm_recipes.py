"""The paper recipes of the LM benchmarks (recipes/tofu-*, muse-*, wmdp-*): every value is a valid parameter of
its method (or of the training recipe), every value names its source, and the benches' defaults are these."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from obliviate.lm.train import LMTrainConfig
from obliviate.methods.base import resolve_method

RECIPES = [p for p in sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.toml"))
           if tomllib.loads(p.read_text(encoding="utf-8"))["recipe"]["family"] == "lm"]


def load(name: str) -> dict:
    return tomllib.loads((RECIPES[0].parent / f"{name}.toml").read_text(encoding="utf-8"))


def test_the_lm_benchmark_recipes_exist():
    assert {p.stem for p in RECIPES} >= {"tofu-llama2-7b-chat", "tofu-phi-1.5", "muse-news-llama2-7b",
                                         "muse-books-llama2-7b", "wmdp-zephyr-7b-rmu"}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.stem)
def test_recipe_values_are_valid_and_sourced(path):
    recipe = tomllib.loads(path.read_text(encoding="utf-8"))
    head = recipe["recipe"]
    assert head["name"] == path.stem and head["family"] == "lm" and head["sources"]
    values = {f"train.{k}": v for k, v in recipe.get("train", {}).items()}
    LMTrainConfig.from_params(recipe.get("train", {}))
    for name, params in recipe.get("methods", {}).items():
        method, _ = resolve_method(name, family="lm")
        config = method.Config.from_params(params).as_dict()
        assert all(config[k] == v for k, v in params.items()), (name, params, config)
        values |= {f"methods.{name}.{k}": v for k, v in params.items()}
    provenance = recipe["provenance"]
    assert set(provenance) == set(values), set(provenance) ^ set(values)
    assert all(isinstance(s, str) and s.strip() for s in provenance.values())


def test_the_benches_defaults_are_the_recipes():
    from obliviate.lm.bench_muse import MUSE_METHOD_PARAMS
    from obliviate.lm.bench_tofu import TOFU_FINETUNE, TOFU_METHOD_PARAMS
    from obliviate.methods.lm.rmu import RMUConfig

    tofu = load("tofu-llama2-7b-chat")
    assert TOFU_FINETUNE == tofu["train"] == {**load("tofu-phi-1.5")["train"], "lr": 1e-5}
    assert all(TOFU_METHOD_PARAMS["*"] == params for params in tofu["methods"].values())
    muse = load("muse-news-llama2-7b")
    assert all(MUSE_METHOD_PARAMS["*"] == {k: v for k, v in p.items() if k != "alpha"}
               for p in muse["methods"].values())
    assert MUSE_METHOD_PARAMS["task_vector"]["alpha"] == muse["methods"]["task_vector"]["alpha"]
    rmu = RMUConfig().as_dict()
    assert all(rmu[k] == v for k, v in load("wmdp-zephyr-7b-rmu")["methods"]["rmu"].items())
