"""Multi-domain data: deterministic transforms, labels, few-shot subsets, domain forget specs and tasks."""

from __future__ import annotations

import pytest
import torch

from clip_support import one_torch_thread, small_data  # noqa: F401
from obliviate.clip.domains import DOMAINS, few_shot, make_multidomain, render
from obliviate.clip.task import DomainTask, parse_domain_spec
from obliviate.errors import ConfigError, ForgetSpecError, UnknownNameError


def _grey(n=6, size=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=gen)


@pytest.mark.parametrize("name", DOMAINS.names())
def test_transforms_are_deterministic_rgb_in_unit_range(name):
    x = _grey()
    a, b = render(x, name), render(x.clone(), name)
    assert torch.equal(a, b)
    assert a.shape == (6, 3, 16, 16) and a.min() >= 0 and a.max() <= 1
    # a sample's rendering does not depend on the batch around it (noisy is seeded by the sample index)
    assert torch.equal(render(x[2:4], name, torch.tensor([2, 3])), a[2:4])


def test_domains_look_different():
    x = _grey()
    photo = render(x, "photo")
    for name in DOMAINS.names():
        if name != "photo":
            assert (render(x, name) - photo).abs().mean() > 0.05, name
    assert torch.allclose(render(x, "negative"), 1 - photo)
    # sketch of a flat image has no edges: white paper
    assert torch.equal(render(torch.full((1, 1, 8, 8), 0.3), "sketch"), torch.ones(1, 3, 8, 8))
    # clipart uses exactly three flat colours
    assert len(torch.unique(render(x, "clipart").permute(0, 2, 3, 1).reshape(-1, 3), dim=0)) <= 3


def test_dataset_is_deterministic_and_labelled():
    a = small_data()
    b = make_multidomain("digits", ("photo", "sketch", "painting", "clipart"), image_size=16, max_train=100, max_test=60)
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.test.x, b.test.x)
    n = 100
    assert len(a.train) == 4 * n and len(a.test) == 4 * 60
    assert torch.equal(a.train.d, torch.arange(4).repeat_interleave(n))
    assert torch.equal(a.train.y[:n], a.train.y[n:2 * n])  # the same images in every domain
    assert torch.equal(a.train.x[:n], render(a.train.x[:n, :1], "photo"))


def test_bad_domain_lists():
    with pytest.raises(UnknownNameError, match="did you mean 'sketch'|Did you mean 'sketch'"):
        make_multidomain("digits", ("photo", "skecth"))
    with pytest.raises(ConfigError, match="at least 2"):
        make_multidomain("digits", ("photo",))
    with pytest.raises(ConfigError, match="repeat"):
        make_multidomain("digits", ("photo", "photo"))


def test_few_shot_takes_shots_per_domain_and_class():
    data = small_data()
    idx = few_shot(data.train, 3, seed=0, num_domains=4, num_classes=10)
    assert len(idx) == 4 * 10 * 3
    cells = {(int(d), int(y)) for d, y in zip(data.train.d[idx], data.train.y[idx])}
    assert len(cells) == 40
    assert not torch.equal(torch.as_tensor(idx), torch.as_tensor(few_shot(data.train, 3, 1, 4, 10)))


def test_domain_specs():
    doms = ("photo", "sketch", "painting", "clipart")
    assert parse_domain_spec("domain:sketch", doms) == [("sketch",)]
    assert parse_domain_spec("domain:clipart,sketch", doms) == [("sketch", "clipart")]  # data order
    assert len(parse_domain_spec("domain:any=1", doms)) == 4
    assert len(parse_domain_spec("domain:any=2", doms)) == 6
    assert len(parse_domain_spec("domain:any=3", doms)) == 4
    for bad, msg in [("class:3", "looks like"), ("domain:", "looks like"), ("domain:skech", "unknown domain"),
                     ("domain:sketch,sketch", "repeat"), ("domain:photo,sketch,painting,clipart", "stay memorised"),
                     ("domain:any=4", "between 1 and 3")]:
        with pytest.raises(ForgetSpecError, match=msg):
            parse_domain_spec(bad, doms)


def test_task_gives_methods_only_few_shot_train_images():
    data = small_data()
    task = DomainTask.build(data, "domain:sketch,clipart", seed=0, shots=2)
    ud = task.unlearn_data()
    fx, fy, fd = ud.forget.tensors
    mx, my, md = ud.memorise.tensors
    assert set(fd.tolist()) == {1, 3} and set(md.tolist()) == {0, 2}
    assert len(fx) == 2 * 10 * 2 and len(mx) == 2 * 10 * 2
    train_rows = {tuple(r) for r in data.train.x.flatten(1)[:, ::7].tolist()}
    test_rows = {tuple(r) for r in data.test.x.flatten(1)[:, ::7].tolist()}
    seen = {tuple(r) for r in torch.cat([fx, mx]).flatten(1)[:, ::7].tolist()}
    assert seen <= train_rows and not (seen & test_rows)
    info = task.describe()
    assert info["forget_spec"] == "domain:sketch,clipart" and info["forget_size"] == 40 and info["scenario"] == "domain"
    with pytest.raises(ForgetSpecError, match="a task takes one"):
        DomainTask.build(data, "domain:any=2")
