"""The memorising-regime Fashion-MNIST recipe (recipes/fashion-mnist-memorise.toml, docs/benchmarks.md):
it loads and validates, sets the regime, and its tuned values are the best trials of the studies it cites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from obliviate.classifier.bench import ClassifierBench
from obliviate.classifier.recipe_files import load_recipe

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "fashion-mnist-memorise.toml"
TUNED = ["finetune", "l1_sparse", "random_label", "salun"]


def test_memorise_recipe_loads_and_sets_the_regime():
    recipe = load_recipe(RECIPE)
    assert (recipe.dataset, recipe.model, recipe.max_train) == ("fashion-mnist", "cnn", 2000)
    assert recipe.train["augment"] is False
    assert set(TUNED) <= set(recipe.methods)
    bench = ClassifierBench(dataset="fashion-mnist", recipe=str(RECIPE), methods=["retrain", *TUNED], seeds=[0])
    bench.validate()
    conf = bench.resolved()
    assert conf["max_train"] == 2000 and conf["train"]["augment"] is False
    assert conf["train"]["epochs"] == recipe.train["epochs"]
    for name in TUNED:  # the file's values reach the method configs
        assert {k: conf["methods"][name][k] for k in recipe.methods[name]} == recipe.methods[name]
    # --max-train still overrides the file
    assert ClassifierBench(dataset="fashion-mnist", recipe=str(RECIPE), max_train=500).resolved()["max_train"] == 500


@pytest.mark.parametrize("method", TUNED)
def test_tuned_values_are_the_best_trial_of_the_cited_study(method):
    recipe = load_recipe(RECIPE)
    study = Path("benchmarks/results") / f"tune-fashion-mnist-memorise-{method}"
    doc = json.loads((ROOT / study / "trials.json").read_text(encoding="utf-8"))
    spec = doc["spec"]
    assert spec["method"] == method and min(spec["validation_seeds"]) >= 100
    # the study ran on this recipe's setting
    assert spec["bench"]["max_train"] == recipe.max_train and spec["bench"]["dataset"] == recipe.dataset
    assert {k: spec["bench"]["train"][k] for k in recipe.train} == recipe.train
    assert doc["best"]["params"]
    for name, value in doc["best"]["params"].items():
        assert recipe.methods[method][name] == pytest.approx(value), (method, name)
        source = recipe.provenance_of(method)[name]
        assert source.startswith("tuned:") and str(study) in source
