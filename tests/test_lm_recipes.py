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
    values |= {f"eval.{k}": v for k, v in recipe.get("eval", {}).items()}
    provenance = recipe["provenance"]
    uncited = [k for k in values if k not in provenance and k.rpartition(".")[0] not in provenance]
    assert not uncited, uncited  # every value is cited, on its own or by its whole method / section
    assert set(provenance) <= set(values) | {k.rpartition(".")[0] for k in values}, set(provenance) - set(values)
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


# ------------------------------------------------------------------ --recipe on the lm benches


def test_every_lm_recipe_loads_for_its_bench():
    from obliviate.bench.recipe_files import check_recipe_for, load_recipe

    for path in RECIPES:
        recipe = load_recipe(path)
        assert recipe.family == "lm" and recipe.bench in ("tofu", "muse", "wmdp"), path
        check_recipe_for(recipe, "lm", recipe.bench)


def _file(tmp_path, body: str) -> str:
    path = tmp_path / "recipe.toml"
    path.write_text(body, encoding="utf-8")
    return str(path)


def test_a_recipe_for_another_bench_or_family_is_refused_naming_both(tmp_path):
    from obliviate.classifier.recipe_files import load_recipe as load_classifier_recipe
    from obliviate.errors import ConfigError
    from obliviate.lm.bench_muse import MuseBench
    from obliviate.lm.bench_wmdp import WmdpBench

    tofu, cifar = RECIPES[0].parent / "tofu-phi-1.5.toml", RECIPES[0].parent / "cifar10-resnet18.toml"
    with pytest.raises(ConfigError, match=r"tofu-phi-1\.5\.toml is written for the lm family, bench tofu; .*bench muse"):
        MuseBench(data="d", target="t", retrain="r", recipe=str(tofu)).resolved()
    with pytest.raises(ConfigError, match=r"written for the classifier family; .*bench wmdp \(family lm\)"):
        WmdpBench(data="d", model="m", forget_corpus="f", retain_corpus="r", recipe=str(cifar)).resolved()
    with pytest.raises(ConfigError, match=r"bench tofu; it cannot be applied to bench classifier"):
        load_classifier_recipe(tofu)
    trains = _file(tmp_path, "[recipe]\nname='x'\nfamily='lm'\n[train]\nepochs=2\n")
    with pytest.raises(ConfigError, match=r"\[train\] does not apply to bench wmdp"):
        WmdpBench(data="d", model="m", forget_corpus="f", retain_corpus="r", recipe=trains).resolved()
    with pytest.raises(ConfigError, match="bench 'nope' is not a bench of the lm family"):
        MuseBench(data="d", target="t", retrain="r",
                  recipe=_file(tmp_path, "[recipe]\nname='x'\nfamily='lm'\nbench='nope'\n")).resolved()
    with pytest.raises(ConfigError, match="unknown WMDP evaluation setting"):
        WmdpBench(data="d", model="m", forget_corpus="f", retain_corpus="r",
                  recipe=_file(tmp_path, "[recipe]\nname='x'\nfamily='lm'\n[eval]\nmax_items=3\n")).resolved()


def test_tofu_applies_train_methods_and_eval_under_the_command_line(tmp_path):
    from obliviate.lm.bench_tofu import TofuBench

    body = (RECIPES[0].parent / "tofu-phi-1.5.toml").read_text(encoding="utf-8").replace(
        "[provenance]", "[eval]\nmax_items = 7\nbatch_size = 2\n\n[provenance]\n'eval.max_items' = 'paper: x'")
    bench = TofuBench(data="d", model="m", recipe=_file(tmp_path, body), methods=["grad_ascent", "grad_diff"],
                      train={"epochs": "2"}, params={"grad_diff": {"lr": "3e-5"}}, eval={"batch_size": "4"})
    conf = bench.resolved()
    assert conf["train"]["lr"] == 2e-5 and conf["train"]["epochs"] == 2  # file < --train
    assert conf["train"]["schedule"] == "linear" and conf["train"]["warmup_epochs"] == 1.0
    assert conf["methods"]["grad_ascent"]["lr"] == 2e-5 and conf["methods"]["grad_diff"]["lr"] == 3e-5
    assert conf["eval"]["max_items"] == 7 and conf["eval"]["batch_size"] == 4  # file < --eval
    assert conf["recipe"]["name"] == "tofu-phi-1.5" and conf["recipe"]["provenance"]["eval.max_items"] == "paper: x"
    row = bench.stamp({"method": {"name": "grad_diff"}})
    assert row["method"]["recipe"] == bench.recipe
    assert row["method"]["provenance"]["lr"] == "command line: --param"
    assert row["method"]["provenance"]["epochs"] == "config/forget.yaml num_epochs: 5 (forget_loss: grad_diff)"
    ref = bench.stamp({"method": {"name": "retrain"}})["method"]["provenance"]
    assert ref["epochs"] == "command line: --train" and ref["warmup_epochs"].startswith("finetune.py warmup_steps")
    assert "recipe" not in TofuBench(data="d", model="m").resolved()  # no file: the resolved config is unchanged


def test_muse_and_wmdp_take_their_recipes_methods():
    from obliviate.lm.bench_muse import MuseBench
    from obliviate.lm.bench_wmdp import WmdpBench

    books = RECIPES[0].parent / "muse-books-llama2-7b.toml"
    conf = MuseBench(data="d", target="t", retrain="r", recipe=str(books), methods=["task_vector"]).resolved()
    assert all(conf["methods"]["task_vector"][k] == v for k, v in load("muse-books-llama2-7b")["methods"]["task_vector"].items())
    fixture = RECIPES[0].parent / "wmdp-fixture-tiny-llama-rmu.toml"
    conf = WmdpBench(data="d", model="m", forget_corpus="f", retain_corpus="r", recipe=str(fixture)).resolved()
    assert conf["methods"]["rmu"]["steering_coeff"] == 50.0 and conf["eval"]["mmlu"] == 0


def test_unlearn_family_lm_takes_a_recipe_s_method_under_param(tmp_path):
    """``obliviate unlearn --family lm --recipe FILE`` (also under accelerate launch, docs/scale-out.md)."""
    import json

    from obliviate.cli import main
    from obliviate.lm.model import save_causal_lm, tiny_llama
    from obliviate.lm.tokenizer import train_bpe_tokenizer

    forget, retain = ["alice was born in paris"] * 4, ["bob works as a baker"] * 4
    tok = train_bpe_tokenizer(forget + retain, vocab_size=300)
    save_causal_lm(tiny_llama(len(tok), seed=0), tok, tmp_path / "model")
    (tmp_path / "f.txt").write_text("\n".join(forget) + "\n")
    (tmp_path / "r.txt").write_text("\n".join(retain) + "\n")
    recipe = _file(tmp_path, "[recipe]\nname='x'\nfamily='lm'\nbench='muse'\n[methods.grad_diff]\nlr=0.02\nbatch_size=2\n"
                             "epochs=3\n[provenance]\n'methods.grad_diff.lr'='paper: Table 9'\n")
    argv = ["unlearn", "--family", "lm", "--model", str(tmp_path / "model"), "--forget", str(tmp_path / "f.txt"),
            "--retain", str(tmp_path / "r.txt"), "--documents", "lines", "--method", "grad_diff", "--quiet"]
    assert main([*argv, "--recipe", recipe, "--param", "epochs=1", "--out", str(tmp_path / "out")]) == 0
    record = json.loads((tmp_path / "out" / "record.json").read_text())
    assert record["params"]["lr"] == 0.02 and record["params"]["batch_size"] == 2 and record["params"]["epochs"] == 1
    assert record["recipe"]["path"] == recipe and record["recipe"]["provenance"] == {"lr": "paper: Table 9"}
    cifar = str(RECIPES[0].parent / "cifar10-resnet18.toml")  # a classifier recipe: refused, naming both
    assert main([*argv, "--recipe", cifar, "--out", str(tmp_path / "no")]) == 2 and not (tmp_path / "no").exists()


def test_the_report_lists_each_value_s_source():
    from obliviate.report.provenance import provenance_card

    runs = [{"method": {"name": "rmu", "recipe": "r.toml", "provenance": {"*": "paper: <b>T1</b>", "lr": "tuned: x"}}},
            {"method": {"name": "original", "recipe": "r.toml", "provenance": {}}},
            {"method": {"name": "npo", "params": {}}}]  # no recipe: not listed
    card = provenance_card({"runs": runs})[0]
    assert "Parameters from recipe files" in card and "paper: &lt;b&gt;T1&lt;/b&gt;" in card and "tuned: x" in card
    assert card.index("all values") < card.index(">lr<") and "npo" not in card and "no value from the file" in card
    assert provenance_card({"runs": runs[2:]}) == []


def test_the_cli_refuses_another_bench_s_recipe_before_anything_else(tmp_path, capsys):
    from obliviate.cli import main

    tofu = str(RECIPES[0].parent / "tofu-phi-1.5.toml")
    out = tmp_path / "out"
    assert main(["bench", "muse", "--recipe", tofu, "--data", str(tmp_path / "none"), "--target", str(tmp_path / "t"),
                 "--retrain", str(tmp_path / "r"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "written for the lm family, bench tofu; it cannot be applied to bench muse" in err and not out.exists()
