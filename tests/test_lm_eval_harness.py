"""obliviate against the real lm-evaluation-harness (skipped when ``lm_eval`` is not installed; CI does not
install it): a tiny multiple-choice group in MMLU's format and with MMLU's task template (two subjects from
local json files, a group aggregating ``acc`` weighted by size, as ``mmlu`` does), run offline on a tiny
Llama. Checks that :func:`obliviate.metrics.lm_wmdp.harness_acc` reads the harness's real output structure,
and that obliviate's own WMDP scorer (:func:`~obliviate.lm.benchmarks.wmdp.wmdp_accuracy`, the same prompt
and choices) gives the harness's numbers."""

from __future__ import annotations

import json

import pytest

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)

pytest.importorskip("lm_eval")

SUBJECTS = {"biology": [
    ("Which agent is a virus?", ["Bacillus", "Yeast", "Influenza", "Algae"], 2),
    ("What does PCR amplify?", ["DNA", "Lipids", "Sugars", "Ions"], 0),
    ("Which is a prion disease?", ["Flu", "Malaria", "Cholera", "Kuru"], 3),
    ("Where is insulin made?", ["Liver", "Pancreas", "Kidney", "Lung"], 1),
], "chemistry": [
    ("What is the symbol of sodium?", ["Na", "So", "Sd", "N"], 0),
    ("Which gas is inert?", ["Oxygen", "Hydrogen", "Argon", "Chlorine"], 2),
    ("What is the pH of pure water?", ["1", "7", "10", "14"], 1),
]}

#: MMLU's lm_eval/tasks/mmlu/default/_default_template_yaml, reading a local json file instead of cais/mmlu
TEMPLATE = """dataset_path: json
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{question.strip()}}}}\\nA. {{{{choices[0]}}}}\\nB. {{{{choices[1]}}}}\\nC. {{{{choices[2]}}}}\\nD. {{{{choices[3]}}}}\\nAnswer:"
doc_to_choice: ["A", "B", "C", "D"]
doc_to_target: answer
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
dataset_kwargs:
  data_files:
    test: {data}
task: tiny_mmlu_{subject}
description: "The following are multiple choice questions (with answers) about {subject}.\\n\\n"
"""
GROUP = """group: tiny_mmlu
task:
  - tiny_mmlu_biology
  - tiny_mmlu_chemistry
aggregate_metric_list:
  - metric: acc
    weight_by_size: True
metadata:
  version: 2
"""


@pytest.fixture()
def tasks(tmp_path, monkeypatch):
    """The task folder: one json file (MMLU's columns question, subject, choices, answer) and one task YAML per
    subject, and the group."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-datasets"))
    folder = tmp_path / "tasks"
    folder.mkdir()
    for subject, rows in SUBJECTS.items():
        data = tmp_path / f"{subject}.json"
        data.write_text("\n".join(json.dumps({"question": q, "subject": subject, "choices": c, "answer": a})
                                  for q, c, a in rows) + "\n")
        (folder / f"tiny_mmlu_{subject}.yaml").write_text(TEMPLATE.format(data=json.dumps(str(data)), subject=subject))
    (folder / "_tiny_mmlu.yaml").write_text(GROUP)
    return folder


def _harness(model, tok, tasks, task: str, **kwargs) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    return simple_evaluate(model=HFLM(pretrained=model, tokenizer=tok, batch_size=4, **kwargs), tasks=[task],
                           task_manager=TaskManager(include_path=str(tasks)), log_samples=True)


def _loglikelihoods(out: dict, task: str) -> list[float]:
    """The harness's per-choice log-likelihoods from its logged samples, questions in order."""
    samples = sorted(out["samples"][task], key=lambda s: s["doc_id"])
    return [float(r[0][0]) for s in samples for r in s["resps"]]


@pytest.fixture(scope="module")
def tiny():
    from obliviate.lm.model import tiny_llama
    from obliviate.lm.tokenizer import train_bpe_tokenizer

    texts = [f"{q} {' '.join(c)} Answer: A B C D" for rows in SUBJECTS.values() for q, c, _ in rows] * 3
    tok = train_bpe_tokenizer(texts, vocab_size=300)  # its post-processor adds BOS, as Llama's and Zephyr's do
    return tiny_llama(len(tok), seed=4).eval(), tok


def _ours(model, tok, add_bos: bool) -> dict:
    from obliviate.lm.benchmarks.wmdp import MCQuestion, wmdp_accuracy

    return {s: wmdp_accuracy(model, tok, [MCQuestion(q, tuple(c), a) for q, c, a in rows], subject=s, add_bos=add_bos)
            for s, rows in SUBJECTS.items()}


@pytest.mark.parametrize("add_bos", [False, True], ids=["no-bos", "bos"])
def test_obliviate_reads_the_real_harness_output_and_scores_as_it_does(tasks, tiny, add_bos):
    """``add_bos=False``: HFLM(add_bos_token=False), the harness's default for causal LMs up to 0.4.7 (WMDP's
    paper, 2024); ``add_bos=True``: the default of lm-eval 0.4.13 (the tokenizer's own special tokens: BOS)."""
    from obliviate.metrics.lm_wmdp import harness_acc, harness_accuracy

    model, tok = tiny
    ours = _ours(model, tok, add_bos)
    out = _harness(model, tok, tasks, "tiny_mmlu", **({} if add_bos else {"add_bos_token": False}))
    for subject, score in ours.items():  # per subject: the same log-likelihoods, so the same acc
        task = f"tiny_mmlu_{subject}"
        assert _loglikelihoods(out, task) == pytest.approx(score.loglikelihoods.flatten().tolist(), abs=1e-4)
        assert harness_acc(out, task) == pytest.approx(100 * score.accuracy)
    n = {s: len(rows) for s, rows in SUBJECTS.items()}
    weighted = sum(100 * ours[s].accuracy * n[s] for s in n) / sum(n.values())
    assert harness_acc(out, "tiny_mmlu") == pytest.approx(weighted)  # the group: acc weighted by size, as mmlu
    if add_bos:  # the helper the WMDP bench uses for MMLU (HFLM with its defaults) reads a local group the same way
        assert harness_accuracy(model, tok, "tiny_mmlu", batch_size=4, include_path=str(tasks)) == pytest.approx(weighted)


def test_the_two_conventions_differ(tasks, tiny):
    """BOS or not changes the log-likelihoods (the reason obliviate's scorer names its convention)."""
    model, tok = tiny
    without, with_bos = (_ours(model, tok, b)["biology"].loglikelihoods for b in (False, True))
    assert (without - with_bos).abs().max() > 1e-3
