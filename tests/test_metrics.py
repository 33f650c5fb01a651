"""Tests for obliviate.metrics: every expected value below is computed by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.svm import SVC

from obliviate.metrics import (
    CLASSIFIER_GAP_METRICS,
    MIA_FEATURES,
    accuracy,
    classifier_metrics,
    gap_to_retrain,
    mia_features,
    svc_mia_efficacy,
    time_ratio,
)
from obliviate.metrics.mia import MIN_PER_SIDE, balanced_sides

# ----------------------------------------------------------------------------------------------
# accuracy


def test_accuracy_1d_class_ids() -> None:
    # 3 of 4 correct -> 75 %
    assert accuracy(np.array([0, 1, 2, 2]), np.array([0, 1, 2, 0])) == pytest.approx(75.0)


def test_accuracy_2d_scores_uses_argmax() -> None:
    logits = np.array([[2.0, 1.0, 0.0], [0.1, 0.2, 3.0], [5.0, -1.0, 0.0]])  # argmax: 0, 2, 0
    labels = np.array([0, 1, 0])  # correct, wrong, correct -> 2/3
    assert accuracy(logits, labels) == pytest.approx(200.0 / 3.0)
    assert isinstance(accuracy(logits, labels), float)


def test_accuracy_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        accuracy(np.array([]), np.array([]))
    with pytest.raises(ValueError, match="empty"):
        accuracy(np.zeros((0, 3)), np.array([], dtype=int))
    with pytest.raises(ValueError, match="length"):
        accuracy(np.array([0, 1]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="length"):
        accuracy(np.zeros((2, 3)), np.array([0]))
    with pytest.raises(ValueError, match="shape"):
        accuracy(np.zeros((2, 3, 4)), np.array([0, 1]))


def test_classifier_metrics() -> None:
    m = classifier_metrics(forget_acc=92.5, retain_acc=99.0, test_acc=94.0)
    assert m == {
        "forget_accuracy": 92.5,
        "retain_accuracy": 99.0,
        "test_accuracy": 94.0,
        "unlearning_accuracy": pytest.approx(7.5),  # 100 - 92.5
    }


# ----------------------------------------------------------------------------------------------
# mia_features

PROBS = np.array(
    [
        [0.7, 0.2, 0.1],  # label 0, predicted 0 (correct)
        [0.2, 0.5, 0.3],  # label 2, predicted 1 (wrong)
        [1.0, 0.0, 0.0],  # label 1, predicted 0 (wrong), exercises the log clipping
    ]
)
LABELS = np.array([0, 2, 1])
LN_EPS = 30 * math.log(10)  # -log(1e-30) = 69.0776

# Row 0: H = 0.7*0.356675 + 0.2*1.609438 + 0.1*2.302585 = 0.249672 + 0.321888 + 0.230259 = 0.801819
# Row 1: H = 0.2*1.609438 + 0.5*0.693147 + 0.3*1.203973 = 0.321888 + 0.346574 + 0.361192 = 1.029653
# Row 2: H = 1*log(1) + 0*log(0) + 0*log(0) = 0 (0*log(0) -> 0 * log(1e-30) = 0)
EXPECTED_ENTROPY = [0.801819, 1.029653, 0.0]

# Mentr = -(1-p_y) log p_y - sum_{i != y} p_i log(1-p_i)
# Row 0 (y=0): 0.3*0.356675 + 0.2*0.223144 + 0.1*0.105361 = 0.107003 + 0.044629 + 0.010536 = 0.162167
# Row 1 (y=2): 0.7*1.203973 + 0.2*0.223144 + 0.5*0.693147 = 0.842781 + 0.044629 + 0.346574 = 1.233983
# Row 2 (y=1): p_y = 0 -> -(1)*log(1e-30) = 69.0776; i=0: p=1 -> -1*log(max(0, 1e-30)) = 69.0776;
#              i=2: p=0 -> 0.  Total 2 * 69.0776 = 138.1551
EXPECTED_MENTR = [0.162167, 1.233983, 2 * LN_EPS]


def test_mia_features_hand_computed() -> None:
    conf = mia_features(PROBS, LABELS, "confidence")
    assert conf.shape == (3, 1)
    assert conf[:, 0] == pytest.approx([0.7, 0.3, 0.0])

    ent = mia_features(PROBS, LABELS, "entropy")
    assert ent.shape == (3, 1)
    assert ent[:, 0] == pytest.approx(EXPECTED_ENTROPY, abs=1e-5)

    mentr = mia_features(PROBS, LABELS, "modified_entropy")
    assert mentr.shape == (3, 1)
    assert mentr[:, 0] == pytest.approx(EXPECTED_MENTR, abs=1e-5)
    assert np.all(np.isfinite(mentr))

    corr = mia_features(PROBS, LABELS, "correctness")
    assert corr.shape == (3, 1)
    assert corr[:, 0].tolist() == [1.0, 0.0, 0.0]

    prob = mia_features(PROBS, LABELS, "prob")
    assert prob.shape == (3, 3)
    np.testing.assert_array_equal(prob, PROBS)


def test_mia_features_errors() -> None:
    with pytest.raises(ValueError, match="unknown MIA feature 'loss'.*confidence.*prob"):
        mia_features(PROBS, LABELS, "loss")
    with pytest.raises(ValueError, match="length"):
        mia_features(PROBS, LABELS[:2], "entropy")
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        mia_features(PROBS, np.array([0, 1, 3]), "confidence")
    with pytest.raises(ValueError, match="2-D"):
        mia_features(PROBS[0], LABELS[:1], "confidence")
    with pytest.raises(ValueError, match="integer"):
        mia_features(PROBS, np.array([0.0, 1.5, 2.0]), "confidence")


# ----------------------------------------------------------------------------------------------
# svc_mia_efficacy


def _binary_probs(p_true: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two-class probs whose true class (label 0) has probability ``p_true``."""
    return np.stack([p_true, 1.0 - p_true], axis=1), np.zeros(len(p_true), dtype=np.int64)


def _separable_sets(seed: int = 0):
    rng = np.random.default_rng(seed)
    retain = _binary_probs(rng.uniform(0.97, 0.999, 300))  # members: confident
    test = _binary_probs(rng.uniform(0.45, 0.55, 200))  # non-members: ~0.5
    forget_unseen = _binary_probs(rng.uniform(0.45, 0.55, 100))  # looks like test
    forget_seen = _binary_probs(rng.uniform(0.97, 0.999, 100))  # looks like retain
    return retain, test, forget_unseen, forget_seen


def test_svc_mia_separable() -> None:
    retain, test, forget_unseen, forget_seen = _separable_sets()
    feats = ("confidence", "entropy", "modified_entropy", "prob")
    forgotten = svc_mia_efficacy(*retain, *test, *forget_unseen, features=feats)
    remembered = svc_mia_efficacy(*retain, *test, *forget_seen, features=feats)
    assert set(forgotten) == set(feats) == set(remembered)
    for f in feats:
        assert forgotten[f] >= 95.0, f
        assert remembered[f] <= 5.0, f


def test_svc_mia_matches_direct_sklearn() -> None:
    # len(retain) == len(test) and no cap: the members are all of retain, so the attacker must be
    # exactly SVC(C=3, gamma="auto", kernel="rbf") on confidence, member=1 / non-member=0.
    rng = np.random.default_rng(1)
    r = rng.uniform(0.6, 1.0, 150)
    t = rng.uniform(0.4, 0.9, 150)
    f = rng.uniform(0.4, 1.0, 80)
    clf = SVC(C=3, gamma="auto", kernel="rbf").fit(
        np.concatenate([r, t]).reshape(-1, 1), np.concatenate([np.ones(150), np.zeros(150)])
    )
    expected = 100.0 * np.mean(clf.predict(f.reshape(-1, 1)) == 0)
    got = svc_mia_efficacy(
        *_binary_probs(r), *_binary_probs(t), *_binary_probs(f), features=("confidence",), max_per_side=None
    )
    assert got == {"confidence": pytest.approx(expected)}
    assert 0.0 < expected < 100.0  # a non-trivial case


def test_svc_mia_deterministic_under_seed() -> None:
    rng = np.random.default_rng(2)
    retain = _binary_probs(rng.uniform(0.5, 1.0, 400))  # overlapping: the subset matters
    test = _binary_probs(rng.uniform(0.4, 0.95, 150))
    forget = _binary_probs(rng.uniform(0.4, 1.0, 100))
    kwargs = dict(features=("confidence", "entropy"), max_per_side=100)
    a = svc_mia_efficacy(*retain, *test, *forget, seed=7, **kwargs)
    b = svc_mia_efficacy(*retain, *test, *forget, seed=7, **kwargs)
    assert a == b
    for value in a.values():
        assert 0.0 <= value <= 100.0


def test_svc_mia_default_features_and_cap() -> None:
    retain, test, forget_unseen, _ = _separable_sets()
    out = svc_mia_efficacy(*retain, *test, *forget_unseen, max_per_side=50)
    assert tuple(out) == MIA_FEATURES
    assert out["confidence"] >= 95.0


def test_svc_mia_constant_feature_calls_everything_a_member() -> None:
    # Every sample is classified correctly (p_true > 0.5) -> "correctness" is 1.0 everywhere: the attacker
    # has no signal, the balanced sides tie, and a tie means "member" (no evidence of forgetting).
    rng = np.random.default_rng(3)
    retain = _binary_probs(rng.uniform(0.97, 0.999, 300))
    test = _binary_probs(rng.uniform(0.55, 0.65, 200))
    forget_unseen = _binary_probs(rng.uniform(0.55, 0.65, 100))
    assert svc_mia_efficacy(*retain, *test, *forget_unseen, features=["correctness"]) == {"correctness": 0.0}
    # fewer retain than test samples used to give 100 members vs 200 non-members -> "non-member" -> 100
    small_retain = (retain[0][:100], retain[1][:100])
    assert svc_mia_efficacy(*small_retain, *test, *forget_unseen, features=["correctness"]) == {"correctness": 0.0}


@pytest.mark.parametrize("n_retain, n_test, cap", [(60, 600, None), (600, 60, None), (400, 300, 100), (45, 50, 5000)])
def test_svc_mia_trains_on_balanced_sides(n_retain: int, n_test: int, cap: int | None) -> None:
    # Overlapping member / non-member confidences, forget drawn like the members: an attacker trained on
    # 60 members vs 600 non-members calls most of them non-members (the original would look "forgotten");
    # the balanced attacker must give exactly the answer of an SVC fitted on equal, seeded subsets.
    rng = np.random.default_rng(4)
    r, t, f = rng.uniform(0.6, 1.0, n_retain), rng.uniform(0.4, 0.9, n_test), rng.uniform(0.6, 1.0, 120)
    n = min(n_retain, n_test, cap or n_retain)
    members, nonmembers = balanced_sides(n_retain, n_test, cap, seed=0)
    assert len(members) == len(nonmembers) == n
    assert len(set(members)) == n and len(set(nonmembers)) == n

    def efficacy(rx: np.ndarray, tx: np.ndarray) -> float:
        clf = SVC(C=3, gamma="auto", kernel="rbf").fit(
            np.concatenate([rx, tx]).reshape(-1, 1), np.concatenate([np.ones(len(rx)), np.zeros(len(tx))])
        )
        return 100.0 * float(np.mean(clf.predict(f.reshape(-1, 1)) == 0))

    got = svc_mia_efficacy(*_binary_probs(r), *_binary_probs(t), *_binary_probs(f), features=("confidence",),
                           max_per_side=cap, seed=0)
    assert got == {"confidence": pytest.approx(efficacy(r[members], t[nonmembers]))}
    if n_retain * 5 <= n_test:  # the imbalance the balancing removes is material here
        assert efficacy(r, t) - got["confidence"] > 30, (efficacy(r, t), got)


def test_svc_mia_refuses_too_few_samples_per_side() -> None:
    rng = np.random.default_rng(5)
    retain = _binary_probs(rng.uniform(0.6, 1.0, MIN_PER_SIDE - 1))
    test, forget = _binary_probs(rng.uniform(0.4, 0.9, 500)), _binary_probs(rng.uniform(0.4, 0.9, 50))
    with pytest.raises(ValueError, match=f"at least {MIN_PER_SIDE} members.*got {MIN_PER_SIDE - 1} retain and 500 test"):
        svc_mia_efficacy(*retain, *test, *forget)
    with pytest.raises(ValueError, match="max_per_side"):
        svc_mia_efficacy(*test, *test, *forget, max_per_side=MIN_PER_SIDE - 1)


def test_svc_mia_errors() -> None:
    retain, test, forget, _ = _separable_sets()
    with pytest.raises(ValueError, match="unknown MIA feature 'margin'.*modified_entropy"):
        svc_mia_efficacy(*retain, *test, *forget, features=("confidence", "margin"))
    with pytest.raises(ValueError, match=r"retain.*length: 300 vs 299"):
        svc_mia_efficacy(retain[0], retain[1][:-1], *test, *forget)
    with pytest.raises(ValueError, match=r"test.*length"):
        svc_mia_efficacy(*retain, test[0][:10], test[1], *forget)
    with pytest.raises(ValueError, match=r"forget.*length"):
        svc_mia_efficacy(*retain, *test, forget[0], forget[1][:3])
    with pytest.raises(ValueError, match="forget set is empty"):
        svc_mia_efficacy(*retain, *test, forget[0][:0], forget[1][:0])
    with pytest.raises(ValueError, match="number"):
        svc_mia_efficacy(*retain, np.full((200, 3), 1 / 3), test[1], *forget)
    with pytest.raises(ValueError, match="max_per_side"):
        svc_mia_efficacy(*retain, *test, *forget, max_per_side=0)
    with pytest.raises(ValueError, match="at least one"):
        svc_mia_efficacy(*retain, *test, *forget, features=())


# ----------------------------------------------------------------------------------------------
# gap_to_retrain / time_ratio


def test_gap_to_retrain_with_average() -> None:
    metrics = {"unlearning_accuracy": 5.0, "retain_accuracy": 97.0, "test_accuracy": 90.0, "mia_efficacy": 12.0,
               "forget_accuracy": 95.0, "only_here": 1.0}
    reference = {"unlearning_accuracy": 8.0, "retain_accuracy": 100.0, "test_accuracy": 91.5, "mia_efficacy": 20.0,
                 "forget_accuracy": 92.0, "only_there": 2.0}
    gaps = gap_to_retrain(metrics, reference)
    # |5-8|=3, |97-100|=3, |90-91.5|=1.5, |12-20|=8; average (3+3+1.5+8)/4 = 3.875
    assert gaps == {
        "unlearning_accuracy": pytest.approx(3.0),
        "retain_accuracy": pytest.approx(3.0),
        "test_accuracy": pytest.approx(1.5),
        "mia_efficacy": pytest.approx(8.0),
        "forget_accuracy": pytest.approx(3.0),
        "average": pytest.approx(3.875),
    }
    assert CLASSIFIER_GAP_METRICS == ("unlearning_accuracy", "retain_accuracy", "test_accuracy", "mia_efficacy")


def test_gap_to_retrain_missing_metric() -> None:
    metrics = {"unlearning_accuracy": 5.0, "retain_accuracy": 97.0, "test_accuracy": 90.0, "mia_efficacy": None}
    reference = {"unlearning_accuracy": 8.0, "retain_accuracy": 99.0, "test_accuracy": 91.0, "mia_efficacy": 20.0}
    gaps = gap_to_retrain(metrics, reference)
    assert "mia_efficacy" not in gaps
    assert gaps["retain_accuracy"] == pytest.approx(2.0)
    assert gaps["average"] is None
    # Missing from the reference entirely also gives no average ...
    del reference["mia_efficacy"]
    assert gap_to_retrain({**metrics, "mia_efficacy": 1.0}, reference)["average"] is None
    # ... unless the average is taken over the available keys: (3 + 2 + 1) / 3 = 2
    custom = gap_to_retrain(metrics, reference, average_over=("unlearning_accuracy", "retain_accuracy", "test_accuracy"))
    assert custom["average"] == pytest.approx(2.0)


def test_time_ratio() -> None:
    assert time_ratio(30.0, 120.0) == pytest.approx(0.25)
    assert time_ratio(30.0, None) is None
    assert time_ratio(30.0, 0.0) is None
    assert time_ratio(30.0, -5.0) is None
