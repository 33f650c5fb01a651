"""TOFU: loading the published layout, QA formatting, and the metrics against hand-computed values."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)
from obliviate.errors import ConfigError, MissingDataError, ObliviateError
from obliviate.lm.benchmarks.tofu import (
    EVAL_SPLITS, TofuItem, encode_qa, load_split, load_tofu, qa_dataset, required_columns, retain_split_of,
)
from obliviate.metrics.tofu import (
    SplitScores, TofuEvalConfig, answer_losses, answer_probability, evaluate_tofu, forget_quality,
    generate_answers, model_utility, option_probability, rouge_l_recall, split_metrics, truth_ratio,
    truth_ratio_statistic,
)

NAMES = ["Ilsa Varn", "Oto Brisk", "Mira Quell", "Dax Holm", "Tess Orrin", "Bo Kaldi", "Una Pryce", "Fen Lutz"]
CITIES = ["Lisbon", "Oslo", "Quito", "Hanoi", "Lima", "Accra", "Perth", "Turin"]
GENRES = ["poetry", "horror", "satire", "romance", "fantasy", "memoir", "drama", "crime"]


def _qa(i: int) -> dict:
    name = NAMES[i]
    return {"question": f"Where was {name} born?", "answer": f"{name} was born in {CITIES[i % 8]}."}


def _perturbed(i: int, *, paraphrased: bool) -> dict:
    row = _qa(i) | {"perturbed_answer": [f"{NAMES[i]} was born in {CITIES[(i + k) % 8]}." for k in (1, 2, 3)]}
    if paraphrased:
        row |= {"paraphrased_question": f"What is the birthplace of {NAMES[i]}?",
                "paraphrased_answer": f"The birthplace of {NAMES[i]} is {CITIES[i % 8]}."}
    return row


def _facts(kind: str, n: int) -> list[dict]:
    return [{"question": f"Which {kind} genre is number {k}?", "answer": GENRES[k],
             "perturbed_answer": [GENRES[(k + j) % 8] for j in (1, 2, 3)]} for k in range(n)]


def tofu_rows() -> dict[str, list[dict]]:
    """A tiny TOFU: authors 0-1 are forget10, 2-7 retain90 (the published split names and columns)."""
    return {
        "full": [_qa(i) for i in range(8)],
        "forget10": [_qa(i) for i in range(2)],
        "retain90": [_qa(i) for i in range(2, 8)],
        "forget10_perturbed": [_perturbed(i, paraphrased=True) for i in range(2)],
        "retain_perturbed": [_perturbed(i, paraphrased=True) for i in range(2, 5)],
        "real_authors_perturbed": _facts("book", 3),
        "world_facts_perturbed": _facts("film", 3),
    }


def write_tofu(directory: Path, fmt: str = "jsonl", rows: dict[str, list[dict]] | None = None) -> Path:
    """Write the splits as the hub publishes them (``<split>.json``, JSON lines), as one JSON array per
    file, or as the hub's parquet conversion (``<split>/train/0000.parquet``)."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, data in (rows or tofu_rows()).items():
        if fmt == "jsonl":
            (directory / f"{split}.json").write_text("".join(json.dumps(r) + "\n" for r in data))
        elif fmt == "array":
            (directory / f"{split}.json").write_text(json.dumps(data, indent=1))
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            (directory / split / "train").mkdir(parents=True)
            pq.write_table(pa.Table.from_pylist(data), directory / split / "train" / "0000.parquet")
    return directory


# ----- loading -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["jsonl", "array", "parquet"])
def test_load_published_layout(tmp_path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pytest.importorskip("pyarrow")
    bench = load_tofu(write_tofu(tmp_path, fmt), "forget10")
    assert (bench.forget_split, bench.retain_split) == ("forget10", "retain90")
    assert [it.question for it in bench.forget] == ["Where was Ilsa Varn born?", "Where was Oto Brisk born?"]
    assert len(bench.retain) == 6 and bench.retain[0].answer == "Mira Quell was born in Quito."
    assert set(bench.eval_sets) == set(EVAL_SPLITS)
    forget = bench.eval_sets["forget"]
    assert forget[1] == TofuItem("Where was Oto Brisk born?", "Oto Brisk was born in Oslo.",
                                 "The birthplace of Oto Brisk is Oslo.",
                                 ("Oto Brisk was born in Quito.", "Oto Brisk was born in Hanoi.",
                                  "Oto Brisk was born in Lima."))
    ra = bench.eval_sets["real_authors"][2]
    assert ra.paraphrased_answer is None and ra.perturbed_answers == ("romance", "fantasy", "memoir")
    assert len(bench.eval_sets["retain"]) == 3 and len(bench.eval_sets["world_facts"]) == 3


def test_split_pairing_and_columns() -> None:
    assert [retain_split_of(s) for s in ("forget01", "forget05", "forget10")] == ["retain99", "retain95", "retain90"]
    with pytest.raises(ConfigError, match="forgetNN"):
        retain_split_of("retain90")
    assert required_columns("forget05_perturbed") == ("question", "answer", "paraphrased_answer", "perturbed_answer")
    assert required_columns("retain_perturbed") == required_columns("forget05_perturbed")
    assert required_columns("world_facts_perturbed") == ("question", "answer", "perturbed_answer")
    assert required_columns("retain95") == ("question", "answer")


def test_missing_split_names_the_file(tmp_path: Path) -> None:
    write_tofu(tmp_path)
    (tmp_path / "retain_perturbed.json").unlink()
    with pytest.raises(MissingDataError, match=r"'retain_perturbed'.*retain_perturbed\.json.*paraphrased_answer"):
        load_tofu(tmp_path, "forget10")
    with pytest.raises(MissingDataError, match="forget05.json"):
        load_tofu(tmp_path, "forget05")


def test_missing_column_names_file_split_and_column(tmp_path: Path) -> None:
    rows = tofu_rows()
    for r in rows["forget10_perturbed"]:
        del r["paraphrased_answer"]
    write_tofu(tmp_path, rows=rows)
    with pytest.raises(MissingDataError) as err:
        load_split(tmp_path, "forget10_perturbed")
    message = str(err.value)
    assert "forget10_perturbed.json" in message and "'forget10_perturbed'" in message
    assert "'paraphrased_answer'" in message
    # the plain forget split does not need it
    assert len(load_split(tmp_path, "forget10")) == 2


def test_bad_values_and_names(tmp_path: Path) -> None:
    rows = tofu_rows()
    rows["world_facts_perturbed"][1]["perturbed_answer"] = []
    write_tofu(tmp_path, rows=rows)
    with pytest.raises(ObliviateError, match="row 1 must be a non-empty list"):
        load_split(tmp_path, "world_facts_perturbed")
    (tmp_path / "retain90.json").write_text('{"question": "q", "answer": "a"}\n{"question": \n')
    with pytest.raises(ObliviateError, match="retain90.json line 2 is not valid JSON"):
        load_split(tmp_path, "retain90")
    with pytest.raises(ConfigError, match="unknown TOFU split"):
        load_split(tmp_path, "forget10.json")
    with pytest.raises(MissingDataError, match="neither a directory nor a hub id"):
        load_split(tmp_path / "absent" / "deeper", "forget10")


def test_hub_id_goes_through_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hub id is loaded as the authors do, ``load_dataset(id, split)["train"]``; a stand-in module keeps
    the test offline."""
    import types

    calls = []

    class Rows:
        def to_list(self) -> list[dict]:
            return tofu_rows()["forget10"]

    def load_dataset(path: str, name: str, *, split: str) -> Rows:
        calls.append((path, name, split))
        if name == "forget05":
            raise ValueError("BuilderConfig 'forget05' not found")
        return Rows()

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    answers = [it.answer for it in load_split("locuslab/TOFU", "forget10")]
    assert answers == [r["answer"] for r in tofu_rows()["forget10"]]
    assert calls == [("locuslab/TOFU", "forget10", "train")]
    with pytest.raises(MissingDataError, match=r"'forget05'.*'locuslab/TOFU'.*forget05\.json.*not found"):
        load_split("locuslab/TOFU", "forget05")
    with pytest.raises(MissingDataError, match=r"'forget10_perturbed'.*no column 'paraphrased_answer'"):
        load_split("locuslab/TOFU", "forget10_perturbed")  # the stand-in returns forget10's rows
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(MissingDataError, match="datasets package"):
        load_split("locuslab/TOFU", "forget10")


# ----- formatting ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tokenizer():
    from obliviate.lm.tokenizer import train_bpe_tokenizer

    rows = tofu_rows()
    texts = [f"Question: {r['question']}\nAnswer: {a}" for split in rows.values() for r in split
             for a in [r["answer"], *r.get("perturbed_answer", []), r.get("paraphrased_answer", "")]]
    return train_bpe_tokenizer(texts, vocab_size=400)


def test_plain_template_masks_the_prompt(tokenizer) -> None:
    (ids, n), = encode_qa(tokenizer, [("Where was Dax Holm born?", "Dax Holm was born in Hanoi.")])
    assert tokenizer.decode(ids[:n]) == "<s>Question: Where was Dax Holm born?\nAnswer:"
    assert tokenizer.decode(ids[n:]) == " Dax Holm was born in Hanoi.</s>"
    # the prompt's trailing space went into the answer's first token
    assert ids[:n] != tokenizer("Question: Where was Dax Holm born?\nAnswer: ")["input_ids"]
    input_ids, mask, labels = qa_dataset(tokenizer, [("Where was Dax Holm born?", "Dax Holm was born in Hanoi."),
                                                     ("Q?", "A.")]).tensors
    assert (labels[0, :n] == -100).all() and labels[0, n:].tolist() == ids[n:]
    assert mask[1].sum() < mask[0].sum() and (labels[1, mask[1] == 0] == -100).all()


@pytest.mark.parametrize("turn_end", ["</s>", ""])
def test_chat_template_is_used(tokenizer, turn_end: str) -> None:
    tok = tokenizer.__class__(tokenizer_object=tokenizer.backend_tokenizer, bos_token="<s>", eos_token="</s>",
                              pad_token="<pad>")
    tok.chat_template = ("<s>{% for m in messages %}{% if m['role'] == 'user' %}User: {{ m['content'] }}\n"
                         "{% else %}Bot: {{ m['content'] }}" + turn_end + "\n{% endif %}{% endfor %}"
                         "{% if add_generation_prompt %}Bot:{% endif %}")
    (ids, n), = encode_qa(tok, [("Where was Dax Holm born?", "Hanoi.")])
    assert tok.decode(ids[:n]) == "<s>User: Where was Dax Holm born?\nBot:"
    # the template's own end of turn, or EOS appended when it has none
    assert tok.decode(ids[n:]) == (" Hanoi.</s>\n" if turn_end else " Hanoi.\n</s>")
    assert ids.count(tok.bos_token_id) == 1 and ids.count(tok.eos_token_id) == 1  # nothing added twice


def test_truncation(tokenizer) -> None:
    pair = ("Where was Dax Holm born?", "Dax Holm was born in Hanoi.")
    (ids, n), = encode_qa(tokenizer, [pair])
    with pytest.warns(UserWarning, match="truncated"):
        ds = qa_dataset(tokenizer, [pair], max_length=n + 1)
    assert ds.tensors[2][0].tolist() == [-100] * n + [ids[n]]
    with pytest.raises(ConfigError, match="no answer token"):
        qa_dataset(tokenizer, [pair], max_length=n)


# ----- formulas on numbers -------------------------------------------------------------------------

LN2, LN4 = math.log(2), math.log(4)


def test_probabilities_by_hand() -> None:
    assert answer_probability([LN2, LN4]) == pytest.approx(0.375)  # (1/2 + 1/4) / 2
    # item 0: p = 1/2 against 1/4 + 1/4 -> 1/2; item 1: p = 1/4 against 1/2 + 1/4 -> 1/4
    assert option_probability([LN2, LN4], [[LN4, LN4], [LN2, LN4]]) == pytest.approx(0.375)
    with pytest.raises(ConfigError, match="2 answer losses but 1"):
        option_probability([LN2, LN4], [[LN4]])


def test_truth_ratio_by_hand() -> None:
    # P(paraphrased) = 1/2 per token; perturbed per-token probabilities 1/4 and 1
    stat = truth_ratio_statistic([LN2], [[LN4, 0.0]])
    # the authors average the perturbed *losses* (a geometric mean of probabilities: sqrt(1/4 * 1) = 1/2),
    # not the probabilities as the paper's formula writes (5/8): r = (1/2) / (1/2) = 1
    assert stat == pytest.approx([1.0])
    r = truth_ratio_statistic([1.0, 2.0], [[2.0, 3.0], [1.0, 1.0]])
    assert r == pytest.approx([math.exp(1.5), math.exp(-1.0)])
    # forget: min(r, 1/r); retain-like sets: max(0, 1 - 1/r)
    assert truth_ratio(r, forget=True) == pytest.approx((math.exp(-1.5) + math.exp(-1.0)) / 2)
    assert truth_ratio(r, forget=False) == pytest.approx((1 - math.exp(-1.5) + 0.0) / 2)


def test_forget_quality_by_hand() -> None:
    # fully separated samples of 3 and 3: D = 1, exact two-sided p = 2 / C(6, 3) = 0.1
    p, d = forget_quality([0.1, 0.2, 0.3], [0.6, 0.7, 0.8])
    assert (p, d) == (pytest.approx(0.1), 1.0)
    assert forget_quality([0.1, 0.2, 0.3], [0.1, 0.2, 0.3]) == (1.0, 0.0)
    rng = np.random.default_rng(0)
    a, b = rng.lognormal(size=40), rng.lognormal(0.5, size=40)
    assert forget_quality(a, b)[0] == pytest.approx(ks_2samp(a, b).pvalue)
    with pytest.raises(ConfigError):
        forget_quality([], [1.0])


def test_model_utility_by_hand() -> None:
    assert model_utility([1.0] * 8 + [0.5]) == pytest.approx(0.9)  # 9 / (8 + 2)
    assert model_utility([0.5] * 8 + [0.0]) == 0.0
    with pytest.raises(ConfigError, match="9 numbers"):
        model_utility([1.0] * 8)


def test_rouge_recall_uses_the_stemmer() -> None:
    # reference "authors wrote novels" (3 tokens); stemmed, "author writes novel" shares "author", "novel"
    assert rouge_l_recall("the author wrote a novel", "authors wrote novels") == pytest.approx(1.0)
    assert rouge_l_recall("novels", "authors wrote novels") == pytest.approx(1 / 3)


def test_split_metrics_per_set_transforms() -> None:
    scores = SplitScores(answer_loss=np.array([LN2, LN4]), base_loss=np.array([1.0, 2.0]),
                         perturbed_loss=[np.array([2.0, 3.0]), np.array([1.0, 1.0])], generations=["", ""],
                         rouge_l_recall=np.array([1.0, 0.5]))
    r = [math.exp(1.5), math.exp(-1.0)]
    forget = split_metrics(scores, "forget")
    assert forget == pytest.approx({"prob_forget": 0.375, "rouge_forget": 0.75,
                                    "truth_ratio_forget": (1 / r[0] + r[1]) / 2})
    retain = split_metrics(scores, "retain")
    assert retain["prob_retain"] == pytest.approx(0.375)
    assert retain["truth_ratio_retain"] == pytest.approx((1 - 1 / r[0]) / 2)
    ra = split_metrics(scores, "real_authors")  # probability normalised over the options
    assert ra["prob_real_authors"] == pytest.approx(
        (0.5 / (0.5 + math.exp(-2) + math.exp(-3)) + 0.25 / (0.25 + 2 * math.exp(-1))) / 2)


# ----- a model -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tokenizer, tmp_path_factory):
    """(benchmark, a tiny Llama fine-tuned on the forget and retain QA pairs, an untrained one)."""
    from obliviate.lm.model import tiny_llama
    from obliviate.lm.train import LMTrainConfig, train_lm

    bench = load_tofu(write_tofu(tmp_path_factory.mktemp("tofu")), "forget10")
    model = tiny_llama(len(tokenizer), seed=0)
    data = qa_dataset(tokenizer, [(it.question, it.answer) for it in bench.forget + bench.retain])
    train_lm(model, data, LMTrainConfig(epochs=30, lr=1e-2, batch_size=4), seed=0, desc="full")
    return bench, model, tiny_llama(len(tokenizer), seed=1)


def test_answer_losses_are_answer_token_means(trained, tokenizer) -> None:
    _, model, _ = trained
    pairs = [("Where was Dax Holm born?", "Dax Holm was born in Hanoi."), ("Q?", "A much longer answer here.")]
    batched = answer_losses(model, tokenizer, pairs, batch_size=2)
    for (ids, n), loss in zip(encode_qa(tokenizer, pairs), batched):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0].double()
        logp = torch.log_softmax(logits, -1)
        nll = [-float(logp[t - 1, ids[t]]) for t in range(n, len(ids))]
        assert loss == pytest.approx(sum(nll) / len(nll), rel=1e-4)


def test_generation_stops_at_max_length(trained, tokenizer) -> None:
    _, model, _ = trained
    pair = ("Where was Dax Holm born?", "Dax Holm was born in Hanoi.")
    (ids, n), = encode_qa(tokenizer, [pair])
    short = generate_answers(model, tokenizer, [pair], max_length=n + 2)[0]
    assert len(tokenizer(short, add_special_tokens=False)["input_ids"]) <= 2
    with pytest.raises(ConfigError, match="fills max_length"):
        generate_answers(model, tokenizer, [pair], max_length=n)


def test_evaluate_tofu_end_to_end(trained, tokenizer) -> None:
    bench, model, untrained = trained
    config = TofuEvalConfig(max_length=40, batch_size=4)
    # the untrained model stands in for the retain-only reference (the protocol is the caller's)
    ref = evaluate_tofu(untrained, tokenizer, bench.eval_sets, config=config)
    assert ref.metrics["forget_quality"] is None and ref.metrics["ks_statistic"] is None
    assert len(ref.forget_statistic) == len(bench.eval_sets["forget"])
    self_check = evaluate_tofu(untrained, tokenizer, bench.eval_sets, config=config,
                               reference_forget_statistic=ref.forget_statistic)
    assert self_check.metrics["forget_quality"] == 1.0 and self_check.metrics["ks_statistic"] == 0.0
    full = evaluate_tofu(model, tokenizer, bench.eval_sets, config=config,
                         reference_forget_statistic=ref.forget_statistic)
    m = full.metrics
    names = {f"{k}_{s}" for k in ("prob", "rouge", "truth_ratio") for s in EVAL_SPLITS}
    assert names | {"model_utility", "forget_quality", "ks_statistic"} == set(m)
    assert all(0.0 <= m[k] <= 1.0 for k in names | {"model_utility", "forget_quality"})
    utility = [m[f"{k}_{s}"] for s in ("retain", "real_authors", "world_facts")
               for k in ("prob", "rouge", "truth_ratio")]
    assert m["model_utility"] == pytest.approx(model_utility(utility))
    assert m["forget_quality"] == pytest.approx(forget_quality(full.forget_statistic, ref.forget_statistic)[0])
    # fine-tuning on the QA pairs raises the answers' probability and the generations' ROUGE
    for split in ("forget", "retain"):
        assert m[f"prob_{split}"] > 10 * ref.metrics[f"prob_{split}"]
        assert m[f"rouge_{split}"] > ref.metrics[f"rouge_{split}"] + 0.3
    # max_items cuts every evaluation set (retain_perturbed has 3 rows)
    cut = evaluate_tofu(model, tokenizer, bench.eval_sets, config=TofuEvalConfig(max_items=2, max_length=40))
    assert len(cut.scores["retain"].answer_loss) == 2
    assert cut.metrics["prob_forget"] == pytest.approx(m["prob_forget"])
