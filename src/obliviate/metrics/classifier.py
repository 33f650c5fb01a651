"""Evaluate an image classifier on a task: accuracies, MIA-efficacy, and the gap to a reference."""

from __future__ import annotations

from torch import nn

from ..tasks import Task
from ..training.predict import predict_probs
from .accuracy import accuracy, classifier_metrics
from .gap import gap_to_retrain
from .mia import MIA_FEATURES, svc_mia_efficacy
from .registry import Metric, computed_metrics, register_metric

#: metric key of each MIA feature; the confidence feature is the papers' headline ``mia_efficacy``.
MIA_KEYS = {f: ("mia_efficacy" if f == "confidence" else f"mia_{f}") for f in MIA_FEATURES}
_MIA_LABELS = {"confidence": "MIA", "entropy": "MIA (entropy)", "modified_entropy": "MIA (m-entropy)",
               "correctness": "MIA (correct)", "prob": "MIA (prob)"}

# The main table and the average gap: UA, RA, TA, MIA-efficacy, in this order (the gap's summation order).
for _name, _label, _desc in (
    ("unlearning_accuracy", "UA", "100 - accuracy on the forget set"),
    ("retain_accuracy", "RA", "accuracy on the retain set"),
    ("test_accuracy", "TA", "accuracy on the test set"),
):
    register_metric(Metric(_name, "classifier", _label, in_gap=True, standard=True, description=_desc))
for _feature in MIA_FEATURES:
    _headline = MIA_KEYS[_feature] == "mia_efficacy"
    register_metric(Metric(
        MIA_KEYS[_feature], "classifier", _MIA_LABELS[_feature], in_gap=_headline, standard=_headline,
        description=f"% of forget samples an SVC on the {_feature} feature calls non-members",
    ))
register_metric(Metric("forget_accuracy", "classifier", "FA", higher_is_better=False,
                       description="accuracy on the forget set (100 - UA)"))


def evaluate_classifier(
    model: nn.Module,
    task: Task,
    *,
    reference: dict[str, float | None] | None = None,
    mia_max_per_side: int | None = 5000,
    mia_features: tuple[str, ...] = MIA_FEATURES,
) -> dict[str, dict[str, float | None]]:
    """Return ``{"metrics": {...}, "gap_to_retrain": {...}}`` (the gap only when ``reference`` is given).

    Percentages are 0..100. The MIA attacker's subsampling is seeded with the task's seed.
    """
    probs = {
        name: predict_probs(model, ds.x, desc=f"eval {name}")
        for name, ds in (("forget", task.forget), ("retain", task.retain), ("test", task.test))
    }
    labels = {"forget": task.forget.y.numpy(), "retain": task.retain.y.numpy(), "test": task.test.y.numpy()}
    metrics: dict[str, float | None] = dict(
        classifier_metrics(
            accuracy(probs["forget"], labels["forget"]),
            accuracy(probs["retain"], labels["retain"]),
            accuracy(probs["test"], labels["test"]),
        )
    )
    mia = svc_mia_efficacy(
        probs["retain"], labels["retain"], probs["test"], labels["test"], probs["forget"], labels["forget"],
        features=mia_features, max_per_side=mia_max_per_side, seed=task.seed,
    )
    metrics.update({MIA_KEYS[f]: v for f, v in mia.items()})
    metrics.update(computed_metrics("classifier", model, task))
    out: dict[str, dict[str, float | None]] = {"metrics": metrics}
    if reference is not None:
        out["gap_to_retrain"] = gap_to_retrain(metrics, reference)
    return out
