import json

import pytest
import torch

from obliviate.errors import ModelLoadError
from obliviate.models import build_classifier, load_classifier, save_classifier


@pytest.mark.parametrize("arch, shape", [("cnn", (2, 1, 8, 8)), ("cnn", (2, 1, 28, 28)), ("resnet18", (2, 1, 28, 28))])
def test_architectures_run_and_round_trip(tmp_path, arch, shape):
    kwargs = {"width": 8} if arch == "resnet18" else {}
    model = build_classifier(arch, in_channels=1, num_classes=10, **kwargs).eval()
    x = torch.randn(*shape)
    assert model(x).shape == (2, 10) and model.embed(x).ndim == 2
    save_classifier(model, tmp_path / "m")
    loaded = load_classifier(tmp_path / "m").eval()
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    assert torch.equal(model(x), loaded(x))
    assert not list((tmp_path).glob(".m*")), "no temporary directory left behind"


def test_load_errors_are_clear(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_classifier(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="holds no model.safetensors"):
        load_classifier(tmp_path / "empty")

    model = build_classifier("cnn", in_channels=1, num_classes=10)
    save_classifier(model, tmp_path / "good")
    weights = (tmp_path / "good" / "model.safetensors").read_bytes()

    (tmp_path / "trunc").mkdir()
    (tmp_path / "trunc" / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    (tmp_path / "trunc" / "config.json").write_text((tmp_path / "good" / "config.json").read_text())
    with pytest.raises(ModelLoadError, match="corrupted or truncated"):
        load_classifier(tmp_path / "trunc")

    (tmp_path / "noconf").mkdir()
    (tmp_path / "noconf" / "model.safetensors").write_bytes(weights)
    with pytest.raises(ModelLoadError, match="config.json"):
        load_classifier(tmp_path / "noconf")

    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "model.safetensors").write_bytes(weights)
    (tmp_path / "other" / "config.json").write_text(json.dumps({"arch": "cnn", "kwargs": {"width": 16}}))
    with pytest.raises(ModelLoadError, match="does not fit|does not match"):
        load_classifier(tmp_path / "other")
