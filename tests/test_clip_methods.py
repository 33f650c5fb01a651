"""CLIP family: the prompted forward, frozen backbone, methods' mechanics, configs, loading a user's CLIP."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch

from clip_support import classifier, one_torch_thread, random_backbone, small_data  # noqa: F401
from obliviate.clip.model import backbone_state, load_clip, save_clip
from obliviate.clip.prompts import VisionPrompts, encode_image
from obliviate.clip.task import DomainTask
from obliviate.errors import ConfigError, ModelLoadError, UnknownNameError
from obliviate.methods import get_method

FAST = {"epochs": 1, "batch_size": 16, "lr": 0.05}


@pytest.fixture(scope="module")
def setup():
    data = small_data()
    return data, random_backbone(data), DomainTask.build(data, "domain:sketch", seed=0, shots=2).unlearn_data()


def test_encode_image_without_prompts_is_clips_own_forward(setup):
    data, bb, _ = setup
    clf = classifier(data, bb)
    pv = clf.pixel_values(data.test.x[:5])
    ours = encode_image(bb.model.vision_model, pv, None)
    with torch.no_grad():
        out = bb.model.vision_model(pixel_values=pv)
    assert torch.allclose(ours, out.pooler_output, atol=1e-5)


def test_prompts_add_tokens_and_change_features(setup):
    data, bb, _ = setup
    vision = bb.model.config.vision_config
    prompts = VisionPrompts(vision.hidden_size, depth=2, n_prompts=3, generator_layers=(1,), heads=4)
    h = torch.randn(2, 17, vision.hidden_size)
    assert prompts.insert(0, h, 17).shape == (2, 20, vision.hidden_size)
    assert prompts.insert(1, prompts.insert(0, h, 17), 17).shape == (2, 23, vision.hidden_size)  # + 3 per-image
    assert prompts.insert(2, h, 17) is h  # past the prompted blocks: unchanged
    clf = classifier(data, bb)
    plain = clf.image_embeddings(data.test.x[:4])
    clf.prompts = prompts
    assert not torch.allclose(plain, clf.image_embeddings(data.test.x[:4]))
    with pytest.raises(ConfigError, match="outside the prompted blocks"):
        VisionPrompts(vision.hidden_size, depth=2, n_prompts=3, generator_layers=(2,))


@pytest.mark.parametrize("name", ["domain_baseline", "adu"])
def test_methods_train_prompts_and_keep_the_backbone_bit_identical(setup, name):
    data, bb, ud = setup
    clf = classifier(data, bb)
    before = backbone_state(clf.clip)
    method = get_method(name, family="clip")
    config = method.Config.from_params(FAST)
    torch.manual_seed(123)
    out = method().run(clf, ud, config, seed=0)
    after = out.clip.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before), "backbone weights changed"
    assert all(not p.requires_grad for p in out.clip.parameters())
    assert torch.isfinite(out(data.test.x[:8])).all()
    assert out.prompts.depth == bb.model.config.vision_config.num_hidden_layers  # default depth 12, clipped to 4
    assert bool(out.prompts.generators) == (name == "adu")  # InstaPG only in ADU (middle blocks 1, 2)
    if name == "adu":
        assert out.prompts.generator_layers == (1, 2)


def test_prompts_change_during_training(setup):
    data, bb, ud = setup
    method = get_method("adu", family="clip")
    init_clf = classifier(data, bb)
    init = method().run(init_clf, ud, dataclasses.replace(method.Config.from_params(FAST), epochs=0), seed=0).prompts.prompts.detach().clone()
    trained = method().run(classifier(data, bb), ud, method.Config.from_params(FAST), seed=0).prompts.prompts
    assert not torch.allclose(init, trained)


def test_configs_validate():
    adu = get_method("adu", family="clip")
    assert adu.family == "clip" and get_method("domain_baseline", family="clip").family == "clip"
    for bad, msg in [({"n_prompts": 0}, "n_prompts"), ({"gamma": -1}, "gamma"), ({"mmd_weight": -0.5}, "mmd_weight"),
                     ({"generator_layers": "a,b"}, "generator_layers"), ({"forget_weight": -1}, "forget_weight")]:
        with pytest.raises(ConfigError, match=msg):
            adu.Config.from_params(bad)
    with pytest.raises(UnknownNameError, match="belongs to the clip family"):
        get_method("adu", family="classifier")


def test_methods_refuse_other_models(setup):
    _, _, ud = setup
    with pytest.raises(ConfigError, match="ClipClassifier"):
        get_method("adu")().run(torch.nn.Linear(2, 2), ud, get_method("adu").Config(), seed=0)


def test_save_and_load_clip_round_trip(setup, tmp_path):
    data, bb, _ = setup
    save_clip(bb, tmp_path / "clip")
    loaded = load_clip(tmp_path / "clip")
    assert loaded.image_size == 16 and loaded.mean == bb.mean
    x = data.test.x[:4]
    with torch.no_grad():
        assert torch.allclose(classifier(data, bb)(x), classifier(data, loaded)(x), atol=1e-5)


def test_load_clip_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_clip(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_clip(tmp_path / "empty")
    (tmp_path / "llama").mkdir()
    (tmp_path / "llama" / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ModelLoadError, match="not a CLIP model"):
        load_clip(tmp_path / "llama")
    (tmp_path / "noweights").mkdir()
    (tmp_path / "noweights" / "config.json").write_text(json.dumps({"model_type": "clip"}))
    with pytest.raises(ModelLoadError, match="no weights"):
        load_clip(tmp_path / "noweights")
