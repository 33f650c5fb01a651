"""MUSE data (lm/benchmarks/muse.py): the hub repositories muse-bench/MUSE-News and MUSE-Books as published
(``<config>/<split>-00000-of-00001.parquet``), muse_bench's own ``data/<corpus>/<config>/<split>.json``,
the layout errors, and the KnowMem / VerbMem protocol of the authors' code on hand-checked cases."""

from __future__ import annotations

import json

import pytest

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)
from obliviate.errors import ConfigError, MissingDataError
from obliviate.lm.benchmarks import muse
from obliviate.lm.benchmarks.muse import (CONFIGS, cut_knowmem_answer, knowmem_prompt, load_config, load_split)
from obliviate.lm.tokenizer import train_bpe_tokenizer

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

TEXTS = {split: [f"{split} article {i}: the council met on day {i}." for i in range(3)]
         for split in ("forget", "retain1", "retain2", "holdout", "retain", *muse.FOLDS)}
QA = {split: [{"question": f"{split} question {i}?", "answer": f"{split} answer {i}"} for i in range(2)]
      for split in CONFIGS["knowmem"][0]}
VERBMEM = [{"prompt": "The council met on", "gt": "Monday to vote on the budget."}]


def write_parquet(path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


def rows_of(config: str, split: str) -> list[dict]:
    if config == "knowmem":
        return QA[split]
    if config == "verbmem":
        return VERBMEM
    return [{"text": t} for t in TEXTS[split]]


@pytest.fixture()
def news_dir(tmp_path):
    """A local copy of muse-bench/MUSE-News as published: every config's splits as one parquet shard."""
    for config, (splits, _) in CONFIGS.items():
        for split in splits:
            write_parquet(tmp_path / config / f"{split}-00000-of-00001.parquet", rows_of(config, split))
    return tmp_path


def test_every_config_loads_as_plain_python(news_dir):
    assert load_split(news_dir, "raw", "retain2") == TEXTS["retain2"]
    assert load_split(news_dir, "verbmem", "forget") == VERBMEM
    assert load_config(news_dir, "knowmem") == QA
    assert load_config(news_dir, "privleak") == {s: TEXTS[s] for s in ("forget", "retain", "holdout")}
    for config in ("scal", "sust"):
        assert list(load_config(news_dir, config)) == ["forget_1", "forget_2", "forget_3", "forget_4"]
        assert load_split(news_dir, config, "forget_4") == TEXTS["forget_4"]


def test_muse_bench_s_own_json_layout(tmp_path):
    """load_data.py writes data/news/<config>/<split>.json: lists of dicts, or of strings for text configs."""
    data = tmp_path / "data" / "news"
    for config, split, rows in [("knowmem", "retain_qa_icl", QA["retain_qa_icl"]), ("raw", "holdout", TEXTS["holdout"]),
                                ("verbmem", "forget", VERBMEM)]:
        (data / config).mkdir(parents=True, exist_ok=True)
        (data / config / f"{split}.json").write_text(json.dumps(rows))
    assert load_split(data, "knowmem", "retain_qa_icl") == QA["retain_qa_icl"]
    assert load_split(data, "raw", "holdout") == TEXTS["holdout"]
    assert load_split(data, "verbmem", "forget") == VERBMEM


def test_early_muse_news_retain2_qa_names(tmp_path):
    write_parquet(tmp_path / "knowmem" / "retain2_qa-00000-of-00001.parquet", QA["retain_qa"])
    assert load_split(tmp_path, "knowmem", "retain_qa") == QA["retain_qa"]


def test_wrong_layouts_are_clear_errors(news_dir, tmp_path):
    with pytest.raises(ConfigError, match="known: raw, verbmem, knowmem, privleak, scal, sust"):
        load_split(news_dir, "train2", "forget")
    with pytest.raises(ConfigError, match="no split 'retain1'"):
        load_split(news_dir, "privleak", "retain1")
    with pytest.raises(MissingDataError, match=r"config 'scal', split 'forget_1' \(expected .*scal/forget_1-00000"
                                               r"-of-00001\.parquet.*columns text"):
        load_split(tmp_path / "raw", "scal", "forget_1")  # a config folder, not the repository
    with pytest.raises(MissingDataError, match="does not exist"):
        load_split(tmp_path / "missing", "raw", "forget")
    with pytest.raises(MissingDataError, match="does not exist"):
        load_split(str(tmp_path / "missing"), "raw", "forget")
    write_parquet(tmp_path / "bad" / "verbmem" / "forget-00000-of-00001.parquet", [{"prompt": "p", "answer": "a"}])
    with pytest.raises(MissingDataError, match=r"forget-00000-of-00001\.parquet: split 'forget' has no column 'gt' "
                                               r"\(found: prompt, answer\)"):
        load_split(tmp_path / "bad", "verbmem", "forget")
    (tmp_path / "bad" / "knowmem").mkdir()
    (tmp_path / "bad" / "knowmem" / "forget_qa.json").write_text(json.dumps([{"question": "q"}]))
    with pytest.raises(MissingDataError, match=r"forget_qa\.json: split 'forget_qa' has no column 'answer'"):
        load_split(tmp_path / "bad", "knowmem", "forget_qa")
    with pytest.raises(ConfigError, match="news, books"):
        muse.hub_source("papers")
    assert muse.hub_source("books") == "muse-bench/MUSE-Books"


def test_protocol_constants_are_the_authors():
    assert (muse.VERBMEM_PREFIX_TOKENS, muse.VERBMEM_MAX_NEW_TOKENS, muse.KNOWMEM_MAX_NEW_TOKENS) == (32, 128, 32)
    assert (muse.PRIVLEAK_ATTACK, muse.PRIVLEAK_K) == ("Min-40%", 40)


def test_knowmem_prompt_and_cut_are_metrics_knowmem_s():
    icl = [{"question": "Who won?", "answer": "Ada"}, {"question": "Where?", "answer": "Paris"}]
    assert knowmem_prompt("When?", icl) == ("Question: Who won?\nAnswer: Ada\n\nQuestion: Where?\nAnswer: Paris\n\n"
                                             "Question: When?\nAnswer: ")
    assert knowmem_prompt("When?", []) == "Question: When?\nAnswer: "
    assert cut_knowmem_answer("In 1990\n\nQuestion: next") == "In 1990"
    assert cut_knowmem_answer("In 1990\nQuestion: next") == "In 1990"
    assert cut_knowmem_answer("In 1990 Question: x") == "In 1990 Question: x".split("Question:")[0]
    assert cut_knowmem_answer("Questions remain") == "Questions remain"  # only "Question:" and "\nQuestion" cut


@pytest.fixture(scope="module")
def tokenizer():
    return train_bpe_tokenizer([knowmem_prompt(q["question"], []) + q["answer"] for v in QA.values() for q in v]
                               + [r["prompt"] + " " + r["gt"] for r in VERBMEM] * 3, vocab_size=300)


def test_knowmem_scores_the_cut_answer(monkeypatch, tokenizer):
    """A model that answers right and then runs on into a new question scores 100; a silent one 0."""
    qa, icl = QA["forget_qa"], QA["forget_qa_icl"]
    seen = {}

    def fake_generate(model, tok, prompts, *, max_new_tokens, batch_size):
        seen["prompts"], seen["max_new_tokens"] = prompts, max_new_tokens
        return [tok(row["answer"] + "\nQuestion: more?", add_special_tokens=False)["input_ids"] for row in qa]

    monkeypatch.setattr(muse, "greedy_generate", fake_generate)
    scores = muse.knowmem(None, tokenizer, qa, icl)
    assert scores.score == pytest.approx(100.0) and [i["output"] for i in scores.items] == [r["answer"] for r in qa]
    assert seen["max_new_tokens"] == 32
    expected = [tokenizer.bos_token_id] + tokenizer(knowmem_prompt(qa[0]["question"], icl),
                                                    add_special_tokens=False)["input_ids"]
    assert seen["prompts"][0] == expected
    monkeypatch.setattr(muse, "greedy_generate", lambda *a, **k: [[] for _ in qa])
    assert muse.knowmem(None, tokenizer, qa, icl).score == 0.0


def test_verbmem_reference_is_gt_cut_to_the_generation_length(monkeypatch, tokenizer):
    gt_ids = tokenizer(VERBMEM[0]["gt"], add_special_tokens=False)["input_ids"]
    assert len(gt_ids) > 4
    # BOS counts in the authors' 128-token slice of tokenizer(gt, add_special_tokens=True): keep 4 = BOS + 3
    monkeypatch.setattr(muse, "greedy_generate", lambda model, tok, prompts, **kw: [gt_ids[:3]])
    scores = muse.verbmem(None, tokenizer, VERBMEM, max_new_tokens=4)
    assert scores.items[0]["reference"] == tokenizer.decode(gt_ids[:3])
    assert scores.score == pytest.approx(100.0)
