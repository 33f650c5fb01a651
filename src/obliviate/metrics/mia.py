"""Membership-inference (MIA) efficacy as used by "Model Sparsity Can Simplify Machine Unlearning"
(Jia et al., 2023) and SalUn (Fan et al., 2024).

A population attacker is an RBF SVC trained to tell retain samples (members, label 1) from test
samples (non-members, label 0) using one per-sample feature of the model's softmax output. It is then
applied to the forget set; MIA-efficacy is the percentage of forget samples it calls *non-members*
(higher = the model treats the forget set more like unseen data).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.svm import SVC

from ..errors import ObliviateError, UnknownNameError

__all__ = ["MIA_FEATURES", "LOG_EPS", "MIN_PER_SIDE", "balanced_sides", "mia_features", "svc_mia_efficacy"]

#: Features the attacker can use, one SVC per feature.
MIA_FEATURES: tuple[str, ...] = ("confidence", "entropy", "modified_entropy", "correctness", "prob")

#: Arguments of every logarithm are clipped from below at this value, so log(0) becomes log(1e-30)
#: (about -69.08) instead of -inf. Terms such as 0 * log(0) therefore evaluate to exactly 0.
LOG_EPS = 1e-30


#: The fewest samples per side (members, non-members) the attacker is trained on; below this an SVC
#: decision boundary is noise, so the efficacy is refused rather than reported.
MIN_PER_SIDE = 10


def balanced_sides(n_retain: int, n_test: int, max_per_side: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices of the attacker's members (into retain) and non-members (into test): the same number
    n = min(n_retain, n_test, max_per_side) on each side, drawn without replacement with
    ``numpy.random.default_rng(seed)`` (a side of exactly n samples is taken whole)."""
    n = min(n_retain, n_test, n_retain if max_per_side is None else int(max_per_side))
    if n < MIN_PER_SIDE:
        raise ObliviateError(
            f"membership inference needs at least {MIN_PER_SIDE} members and {MIN_PER_SIDE} non-members to train "
            f"its attacker on balanced sides; got {n_retain} retain and {n_test} test samples"
            + (f" (max_per_side {max_per_side})" if max_per_side is not None else "")
        )
    rng = np.random.default_rng(seed)

    def draw(size: int) -> np.ndarray:
        return np.arange(size) if size == n else np.sort(rng.choice(size, size=n, replace=False))

    return draw(n_retain), draw(n_test)


def _safe_log(x: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(x, LOG_EPS))


def _check_probs_labels(probs: np.ndarray, labels: np.ndarray, name: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Validate a (n, C) probability array and n integer labels in [0, C); return float64 / int64 copies."""
    where = f" ({name})" if name else ""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim != 2 or p.shape[1] == 0:
        raise ObliviateError(f"probs{where} must be a 2-D array (n, num_classes), got shape {p.shape}")
    if y.ndim != 1:
        raise ObliviateError(f"labels{where} must be 1-D, got shape {y.shape}")
    if len(p) != len(y):
        raise ObliviateError(f"probs and labels{where} differ in length: {len(p)} vs {len(y)}")
    if not np.all(np.isfinite(p)):
        raise ObliviateError(f"probs{where} contain NaN or infinite values")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.number) or not np.all(np.mod(y, 1) == 0):
            raise ObliviateError(f"labels{where} must be integer class ids, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if y.size and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ObliviateError(
            f"labels{where} must lie in [0, {p.shape[1]}) for {p.shape[1]} classes, "
            f"got range [{y.min()}, {y.max()}]"
        )
    return p, y


def _check_feature(feature: str) -> None:
    if feature not in MIA_FEATURES:
        raise UnknownNameError(f"unknown MIA feature {feature!r}; valid features: {', '.join(MIA_FEATURES)}")


def mia_features(probs: np.ndarray, labels: np.ndarray, feature: str) -> np.ndarray:
    """Per-sample attack features, shape (n, d), from softmax probabilities (n, C) and labels (n,).

    - ``confidence``: p_y (d=1)
    - ``entropy``: -sum_i p_i log p_i (d=1)
    - ``modified_entropy`` (Song & Mittal 2021): -(1-p_y) log p_y - sum_{i!=y} p_i log(1-p_i) (d=1)
    - ``correctness``: 1.0 if argmax p == y else 0.0 (d=1)
    - ``prob``: the full probability vector (d=C)

    Log arguments are clipped below at :data:`LOG_EPS` (1e-30), so p=0 or p=1 give finite values.
    """
    _check_feature(feature)
    p, y = _check_probs_labels(probs, labels)
    rows = np.arange(len(y))
    if feature == "prob":
        return p.copy()
    if feature == "confidence":
        out = p[rows, y]
    elif feature == "entropy":
        out = -np.sum(p * _safe_log(p), axis=1)
    elif feature == "modified_entropy":
        p_y = p[rows, y]
        others = p * _safe_log(1.0 - p)
        others[rows, y] = 0.0
        out = -(1.0 - p_y) * _safe_log(p_y) - others.sum(axis=1)
    else:  # correctness
        out = (p.argmax(axis=1) == y).astype(np.float64) if len(p) else np.empty(0)
    return np.asarray(out, dtype=np.float64).reshape(-1, 1)


def _fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_target: np.ndarray) -> np.ndarray:
    """Fit the SVC attacker and predict member (1) / non-member (0) for ``x_target``.

    Degenerate training sets, where SVC would fail or give an arbitrary answer, use a constant
    attacker instead: a single class predicts that class; identical feature rows for all training
    samples predict the majority class, with ties (always the case on the balanced sides of
    :func:`svc_mia_efficacy`) going to *member*: the conservative choice, no evidence of forgetting
    when the attacker has no signal.
    """
    classes = np.unique(y_train)
    if len(classes) < 2 or np.all(x_train == x_train[0]):
        majority = 1.0 if y_train.mean() >= 0.5 else 0.0
        return np.full(len(x_target), majority)
    clf = SVC(C=3, gamma="auto", kernel="rbf")
    clf.fit(x_train, y_train)
    return clf.predict(x_target)


def svc_mia_efficacy(
    retain_probs: np.ndarray,
    retain_labels: np.ndarray,
    test_probs: np.ndarray,
    test_labels: np.ndarray,
    forget_probs: np.ndarray,
    forget_labels: np.ndarray,
    *,
    features: Sequence[str] = MIA_FEATURES,
    max_per_side: int | None = 5000,
    seed: int = 0,
) -> dict[str, float]:
    """MIA-efficacy (percent, 0..100) of the forget set for each requested feature.

    The attacker trains on equal numbers of members (a random subset of retain) and non-members (a
    random subset of test): n = min(len(retain), len(test), max_per_side) each (:func:`balanced_sides`),
    so it can never win by calling everything the larger side. Fewer than :data:`MIN_PER_SIDE`
    samples on a side is an error. The same subsets serve every feature, so the result is
    deterministic for a given seed. One ``SVC(C=3, gamma="auto", kernel="rbf")`` per feature is
    fitted on member=1 / non-member=0 and applied to the whole forget set; the value is
    100 * fraction of forget samples predicted non-member. See :func:`_fit_predict` for the constant
    attacker used on degenerate (constant-feature) training sets.
    """
    if isinstance(features, str):
        features = (features,)
    features = tuple(features)
    if not features:
        raise ObliviateError(f"features must name at least one of: {', '.join(MIA_FEATURES)}")
    for feature in features:
        _check_feature(feature)
    if max_per_side is not None and (isinstance(max_per_side, bool) or int(max_per_side) < MIN_PER_SIDE):
        raise ObliviateError(f"max_per_side must be an integer >= {MIN_PER_SIDE} or None, got {max_per_side!r}")

    retain_p, retain_y = _check_probs_labels(retain_probs, retain_labels, "retain")
    test_p, test_y = _check_probs_labels(test_probs, test_labels, "test")
    forget_p, forget_y = _check_probs_labels(forget_probs, forget_labels, "forget")
    for name, arr in (("retain", retain_p), ("test", test_p), ("forget", forget_p)):
        if len(arr) == 0:
            raise ObliviateError(f"the {name} set is empty; MIA-efficacy needs retain, test and forget samples")
    num_classes = {retain_p.shape[1], test_p.shape[1], forget_p.shape[1]}
    if len(num_classes) != 1:
        raise ObliviateError(
            "retain, test and forget probs have different numbers of classes: "
            f"{retain_p.shape[1]}, {test_p.shape[1]}, {forget_p.shape[1]}"
        )

    member_idx, nonmember_idx = balanced_sides(len(retain_p), len(test_p), max_per_side, seed)

    y_train = np.concatenate([np.ones(len(member_idx)), np.zeros(len(nonmember_idx))])
    results: dict[str, float] = {}
    for feature in features:
        x_train = np.concatenate(
            [
                mia_features(retain_p[member_idx], retain_y[member_idx], feature),
                mia_features(test_p[nonmember_idx], test_y[nonmember_idx], feature),
            ]
        )
        x_forget = mia_features(forget_p, forget_y, feature)
        predicted_member = _fit_predict(x_train, y_train, x_forget)
        results[feature] = float(100.0 * np.mean(predicted_member == 0))
    return results
