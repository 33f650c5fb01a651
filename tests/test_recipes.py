"""Recipe files (--recipe), the multistep schedule, training augmentation and --model-factory."""

from __future__ import annotations

import json
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
import torch

from obliviate.classifier.bench import ClassifierBench
from obliviate.classifier.recipe_files import load_recipe
from obliviate.cli import main
from obliviate.config import OptimConfig
from obliviate.data.images import ImageDataset, Normalization, ImageSplits
from obliviate.errors import ConfigError
from obliviate.methods import get_method
from obliviate.methods.classifier.retrain import RetrainConfig, train_classifier
from obliviate.models import build_classifier

ALL_RECIPES = sorted((Path(__file__).resolve().parents[1] / "recipes").glob("*.toml"))
#: the classifier family's recipe files (the lm benchmarks' are checked by tests/test_lm_recipes.py)
RECIPES = [p for p in ALL_RECIPES if tomllib.loads(p.read_text(encoding="utf-8"))["recipe"]["family"] == "classifier"]

TINY = """
[recipe]
name = "tiny"
family = "classifier"
dataset = "digits"
model = "cnn"
sources = ["https://example.org/paper"]

[train]
epochs = 2
lr = 0.05
batch_size = 64

[methods.finetune]
epochs = 1
lr = 0.02

[provenance]
"train" = "tuned: test study"
"methods.finetune.lr" = "paper: Table 1"
"""


def _write(tmp_path: Path, text: str, name: str = "r.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_shipped_recipes_cover_the_papers_benchmarks():
    names = {p.name for p in RECIPES}
    assert {"cifar10-resnet18.toml", "cifar100-resnet18.toml", "svhn-resnet18.toml"} <= names


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_shipped_recipe_validates_against_the_method_configs(path):
    recipe = load_recipe(path)  # validates [train], every [methods.X] and every [provenance] key
    assert recipe.family == "classifier" and recipe.sources and recipe.dataset
    RetrainConfig.from_params(recipe.train)
    for name, params in recipe.methods.items():
        config = get_method(name, family="classifier").Config.from_params(params)
        for key, value in params.items():  # every value reaches the config unchanged
            assert config.as_dict()[key] == value, (name, key)
        assert recipe.provenance_of(name), f"{path.name}: methods.{name} has no provenance"
    assert recipe.provenance_of("train")
    if recipe.model != "resnet18":  # an embedded setting (fashion-mnist-memorise: tests/test_memorise_recipe.py)
        return
    # the paper's original training (Model Sparsity / SalUn code defaults)
    assert (recipe.train["epochs"], recipe.train["lr"], recipe.train["batch_size"]) == (182, 0.1, 256)
    assert recipe.train["augment"] is (recipe.dataset != "svhn")


@pytest.mark.parametrize("body, match", [
    ("[recipe]\nname='x'\nfamily='classifier'\n[methods.no_such_method]\nlr=1\n", "no_such_method"),
    ("[recipe]\nname='x'\nfamily='classifier'\n[methods.finetune]\nlr=-1\n", r"methods\.finetune"),
    ("[recipe]\nname='x'\nfamily='classifier'\n[methods.finetune]\nnot_a_param=1\n", "not_a_param"),
    ("[recipe]\nname='x'\nfamily='classifier'\n[train]\nschedule='exponential'\n", r"\[train\]"),
    ("[recipe]\nname='x'\nfamily='classifier'\n[provenance]\n'methods.salun.lr'='paper'\n", "does not set"),
    ("[recipe]\nname='x'\nfamily='lm'\n", "family"),
    ("[recipe]\nname='x'\nfamily='classifier'\nmodel='resnet99'\n", "resnet99"),
    ("[recipe]\nname='x'\nfamily='classifier'\n[extra]\n", "unknown top-level"),
    ("[recipe\n", "not valid TOML"),
    ("[recipe]\nname='x'\nfamily='classifier'\nmax_train=0\n", "max_train"),
    ("[recipe]\nname='x'\nfamily='classifier'\nmax_train='2000'\n", "max_train"),
])
def test_bad_recipes_fail_naming_the_file_and_the_value(tmp_path, body, match):
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError, match=match) as info:
        load_recipe(path)
    assert str(path) in str(info.value)


def test_precedence_paper_defaults_builtin_recipe_file_flags(tmp_path):
    path = _write(tmp_path, TINY)
    bench = ClassifierBench(dataset="fashion-mnist", methods=["retrain", "finetune", "grad_ascent", "salun"],
                            seeds=[0], recipe=str(path), params={"finetune": {"epochs": "3"}}, train={"lr": "0.07"})
    conf = bench.resolved()
    ft = conf["methods"]["finetune"]
    assert ft["lr"] == 0.02  # file over the paper default (0.01)
    assert ft["epochs"] == 3  # --param over the file (1) and the built-in fashion-mnist recipe (2)
    assert ft["batch_size"] == 128  # built-in fashion-mnist recipe over the paper default (256)
    assert conf["methods"]["grad_ascent"]["lr"] == 1e-4  # paper default: nobody overrides it
    assert conf["methods"]["salun"]["epochs"] == 1  # built-in recipe (the file says nothing)
    assert conf["train"]["epochs"] == 2 and conf["train"]["batch_size"] == 64  # file over built-in (20, 128)
    assert conf["train"]["lr"] == 0.07  # --train over the file
    assert conf["methods"]["retrain"] == conf["train"]
    assert conf["recipe"]["path"] == str(path) and conf["recipe"]["provenance"]["methods.finetune.lr"] == "paper: Table 1"


def test_bench_rows_and_config_record_the_recipe_and_provenance(tmp_path):
    path = _write(tmp_path, TINY)
    out = tmp_path / "out"
    assert main(["bench", "classifier", "--recipe", str(path), "--forget", "class:3", "--methods", "retrain,finetune",
                 "--seeds", "1", "--max-train", "300", "--out", str(out), "--cache-dir", str(tmp_path / "c"),
                 "--quiet"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["benches"][0]["dataset"] == "digits"  # from the file: --dataset was not given
    assert config["benches"][0]["recipe"]["sha256"] == load_recipe(path).sha256
    rows = {r["method"]["name"]: r for r in json.loads((out / "results.json").read_text())["runs"]}
    assert rows["finetune"]["method"]["recipe"] == str(path)
    assert rows["finetune"]["method"]["provenance"] == {"lr": "paper: Table 1"}
    assert rows["finetune"]["method"]["params"]["lr"] == 0.02
    assert rows["retrain"]["method"]["provenance"] == {"*": "tuned: test study"}


def test_unlearn_takes_the_recipe_under_param_and_records_it(tmp_path):
    path = _write(tmp_path, TINY)
    model_dir, out = tmp_path / "model", tmp_path / "unlearned"
    assert main(["train", "--recipe", str(path), "--max-train", "300", "--out", str(model_dir), "--quiet"]) == 0
    assert json.loads((model_dir / "config.json").read_text())["train"]["epochs"] == 2
    assert main(["unlearn", "--model", str(model_dir), "--recipe", str(path), "--forget", "class:1", "--max-train", "300",
                 "--method", "finetune", "--param", "epochs=2", "--out", str(out), "--quiet"]) == 0
    record = json.loads((out / "record.json").read_text())
    assert record["params"]["lr"] == 0.02 and record["params"]["epochs"] == 2
    assert record["recipe"]["path"] == str(path) and record["recipe"]["provenance"] == {"lr": "paper: Table 1"}
    assert main(["unlearn", "--family", "lm", "--model", str(model_dir), "--recipe", str(path), "--forget", "f.txt",
                 "--retain", "r.txt", "--method", "npo", "--out", str(tmp_path / "lm")]) == 2


def test_multistep_schedule_decays_tenfold_at_half_and_three_quarters():
    opt, sched = OptimConfig(lr=0.1, schedule="multistep").build([torch.nn.Parameter(torch.zeros(1))], 100)
    lrs = []
    for _ in range(100):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[49] == pytest.approx(0.1) and lrs[50] == pytest.approx(0.01)
    assert lrs[74] == pytest.approx(0.01) and lrs[75] == pytest.approx(0.001)


def _colour_data(n: int = 96) -> ImageDataset:
    gen = torch.Generator().manual_seed(0)
    norm = Normalization((0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    splits = ImageSplits("toy", ImageDataset(torch.randn(n, 3, 12, 12, generator=gen), torch.arange(n) % 3),
                         ImageDataset(torch.randn(8, 3, 12, 12, generator=gen), torch.arange(8) % 3), 3,
                         ("a", "b", "c"), norm)
    assert splits.train.subset([0, 1]).normalization == norm  # statistics travel with subsets
    return splits.train


def _train(data: ImageDataset, **conf) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = build_classifier("cnn", in_channels=3, num_classes=3, width=4, embed_dim=8)
    config = RetrainConfig.from_params({"epochs": 2, "batch_size": 32, "lr": 0.05, **conf})
    train_classifier(model, data, config, seed=0, desc="t")
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_augmentation_is_seeded_and_changes_training(monkeypatch):
    data = _colour_data()
    seen = []
    from obliviate.data import augment

    original_call = augment.RandomCropFlip.__call__

    def spy(self, x):
        seen.append(self.fill)
        return original_call(self, x)

    monkeypatch.setattr(augment.RandomCropFlip, "__call__", spy)
    plain, aug1, aug2 = _train(data), _train(data, augment=True), _train(data, augment=True)
    assert len(seen) == 2 * 2 * 3  # two runs x two epochs x three batches, none without augment
    assert seen[0] == pytest.approx([-2.0, -2.0, -2.0])  # padded with the normalised black
    assert all(torch.equal(aug1[k], aug2[k]) for k in aug1)
    assert any(not torch.equal(plain[k], aug1[k]) for k in plain if plain[k].is_floating_point())


def test_augmented_training_resumes_to_the_same_weights(tmp_path):
    from obliviate.training.checkpoint import checkpointing

    data = _colour_data()
    full = _train(data, augment=True)
    job = {"test": "augment-resume"}

    class Stop(Exception):
        pass

    from obliviate.training import loop

    calls = {"n": 0}
    original_fit = loop.fit

    def interrupted(*args, **kwargs):  # stop after the checkpoint at step 4 by failing the 5th loss
        inner = args[1]

        def loss(model, batch):
            calls["n"] += 1
            if calls["n"] == 5:
                raise Stop
            return inner(model, batch)

        return original_fit(args[0], loss, *args[2:], **kwargs)

    import obliviate.methods.classifier.retrain as retrain_module

    retrain_module.fit, saved = interrupted, retrain_module.fit
    try:
        with pytest.raises(Stop):
            with checkpointing(tmp_path / "ck", 2, job, False):
                _train(data, augment=True)
    finally:
        retrain_module.fit = saved
    with checkpointing(tmp_path / "ck", 2, job, False):
        resumed = _train(data, augment=True)
    assert all(torch.equal(full[k], resumed[k]) for k in full)


FACTORY = '''
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, in_channels, num_classes, image_size):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, 16), nn.ReLU())
        self.head = nn.Linear(16, num_classes)

    def embed(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.embed(x))


def build(in_channels, num_classes, image_size):
    return Net(in_channels, num_classes, image_size)


def plain(in_channels, num_classes, image_size):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, num_classes))


def wrong(in_channels, num_classes, image_size):
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, num_classes + 1))
'''


@pytest.fixture
def factory_module(tmp_path, monkeypatch):
    name = f"userfactory_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_model_factory_runs_the_bench_and_checks_its_contract(tmp_path, factory_module, capsys):
    base = ["bench", "classifier", "--dataset", "digits", "--forget", "class:3", "--seeds", "1", "--max-train", "300",
            "--train", "epochs=1", "--cache-dir", str(tmp_path / "c"), "--quiet"]
    assert main([*base, "--model-factory", f"{factory_module}:build", "--methods", "retrain,finetune,laf",
                 "--param", "laf.epochs=1", "--param", "laf.vae_epochs=1", "--out", str(tmp_path / "ok")]) == 0
    rows = json.loads((tmp_path / "ok" / "results.json").read_text())["runs"]
    assert {r["task"]["model"] for r in rows} == {f"{factory_module}:build"}
    capsys.readouterr()
    assert main([*base, "--model-factory", f"{factory_module}:wrong", "--out", str(tmp_path / "w")]) == 2
    assert "logits of shape (N, 10)" in capsys.readouterr().err
    assert main([*base, "--model-factory", f"{factory_module}:plain", "--methods", "laf", "--out", str(tmp_path / "p")]) == 2
    assert "model.embed" in capsys.readouterr().err
    assert main([*base, "--model-factory", "no_such_module_xyz:f", "--out", str(tmp_path / "n")]) == 2
    assert "cannot import" in capsys.readouterr().err
    assert main([*base, "--model-factory", f"{factory_module}:build", "--model", "cnn", "--out", str(tmp_path / "b")]) == 2


def test_augmentation_cpu_slices_match_the_accelerator_gather():
    from obliviate.data.augment import RandomCropFlip

    x = torch.randn(32, 3, 10, 12)
    out = RandomCropFlip(fill=[-2.0, -1.0, 0.0], flip=False, seed=3)(x)
    gen = torch.Generator().manual_seed(3)
    dy, dx = torch.randint(0, 9, (32,), generator=gen), torch.randint(0, 9, (32,), generator=gen)
    padded = torch.tensor([-2.0, -1.0, 0.0]).view(1, -1, 1, 1).expand(32, 3, 18, 20).clone()
    padded[:, :, 4:14, 4:16] = x
    assert torch.equal(out, RandomCropFlip._gather(padded, dy, dx, 10, 12))
    i = 5  # and the window is where the draw says
    assert torch.equal(out[i], padded[i, :, dy[i]:dy[i] + 10, dx[i]:dx[i] + 12])


@pytest.mark.slow
def test_accelerate_trains_originals_and_references_in_two_processes(tmp_path, capsys):
    """--accelerate 2 on this CPU: DDP over gloo trains the original and the references into the cache
    (keys with train_processes 2); the grid then loads them and runs the methods here."""
    cache = tmp_path / "c"
    base = ["bench", "classifier", "--dataset", "digits", "--forget", "class:3", "--methods", "retrain,finetune",
            "--seeds", "1", "--max-train", "200", "--train", "epochs=1", "--param", "finetune.epochs=1",
            "--cache-dir", str(cache), "--quiet"]
    assert main([*base, "--accelerate", "2", "--out", str(tmp_path / "o")]) == 0
    metas = [json.loads((d / "config.json").read_text())["cache"] for d in cache.iterdir() if d.is_dir()
             and d.name.split("-")[0] in ("original", "retrain")]
    assert sorted(m["kind"] for m in metas) == ["original", "retrain"]
    assert all(m["key"]["train_processes"] == 2 for m in metas)
    rows = json.loads((tmp_path / "o" / "results.json").read_text())["runs"]
    assert [r["method"]["name"] for r in rows] == ["original", "retrain", "finetune"]
    assert all(r["status"] == "ok" for r in rows)
    capsys.readouterr()
    assert main([*base, "--accelerate", "2", "--forget", "worst_case:20", "--out", str(tmp_path / "w")]) == 2
    assert main([*base, "--accelerate", "2", "--train", "batch_size=33", "--out", str(tmp_path / "b")]) == 2
    assert "multiple of 2" in capsys.readouterr().err


def test_nested_tables_become_dotted_parameter_names():
    from obliviate.classifier.recipe_files import _flatten

    assert _flatten({"lr": 0.1, "dp": {"epsilon": 8.0, "noise": {"kind": "g"}}}) == {
        "lr": 0.1, "dp.epsilon": 8.0, "dp.noise.kind": "g"}
