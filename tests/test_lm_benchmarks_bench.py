"""``obliviate bench tofu | muse | wmdp`` end to end, in-process, on tiny fixtures in the published layouts and a
tiny Llama saved as a Hugging Face directory: rows, metrics, the references' defining values and report.html."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)
from obliviate.cli import main

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def tiny_model_dir(directory: Path, train_texts: list[str], vocab_texts: list[str], *, epochs: int = 30) -> Path:
    """A tiny Llama with a BPE tokenizer trained on ``vocab_texts``, trained on ``train_texts``, saved."""
    from obliviate.lm.data import lm_dataset
    from obliviate.lm.model import save_causal_lm, tiny_llama
    from obliviate.lm.tokenizer import train_bpe_tokenizer
    from obliviate.lm.train import LMTrainConfig, train_lm

    tok = train_bpe_tokenizer(vocab_texts, vocab_size=300)
    model = tiny_llama(len(tok), seed=0)
    if epochs:
        train_lm(model, lm_dataset(tok, train_texts, max_length=128), LMTrainConfig(epochs=epochs, lr=3e-3,
                 batch_size=8), seed=0, desc="fixture")
    return save_causal_lm(model, tok, directory)


def bench(args: list[str]) -> dict:
    assert main(["bench", *args]) == 0
    out = Path(args[args.index("--out") + 1])
    assert (out / "report.html").is_file()
    return json.loads((out / "results.json").read_text())


def by_method(results: dict) -> dict[str, dict]:
    return {r["method"]["name"]: r for r in results["runs"]}


def write_parquet(path: Path, rows: list) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


# ----- TOFU ----------------------------------------------------------------------------------------

def test_tofu_bench_end_to_end(tmp_path):
    from test_tofu import tofu_rows, write_tofu

    from obliviate.lm.prompts import qa_text
    from obliviate.metrics.tofu import UTILITY_SETS

    rows = tofu_rows()
    data = write_tofu(tmp_path / "tofu")
    texts = [qa_text(r["question"], a) for rs in rows.values() for r in rs
             for a in [r["answer"], *r.get("perturbed_answer", []), r.get("paraphrased_answer", "")]]
    model = tiny_model_dir(tmp_path / "base", [], texts, epochs=0)  # an untrained "pretrained" model
    out = tmp_path / "out"
    results = bench(["tofu", "--data", str(data), "--model", str(model), "--methods", "grad_diff,npo", "--seeds", "1",
                     "--train", "epochs=60", "--train", "lr=3e-3", "--train", "batch_size=4",
                     "--param", "grad_diff.lr=1e-3", "--param", "grad_diff.epochs=2",
                     "--param", "npo.lr=1e-3", "--param", "npo.epochs=2",
                     "--eval", "max_length=64", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "-q"])
    runs = by_method(results)
    assert list(runs) == ["original", "retrain", "grad_diff", "npo"]
    assert all(r["status"] == "ok" and r["task"]["dataset"] == "tofu" for r in runs.values())
    names = {f"{m}_{s}" for m in ("prob", "rouge", "truth_ratio") for s in ("forget", *UTILITY_SETS)}
    for r in runs.values():
        assert names | {"model_utility", "forget_quality", "ks_statistic"} <= set(r["metrics"])
        assert all(0 <= r["metrics"][n] <= 1 for n in names | {"model_utility", "forget_quality"})
    ref = runs["retrain"]
    assert ref["metrics"]["forget_quality"] == 1.0 and ref["metrics"]["ks_statistic"] == 0.0
    statistic = json.loads((out / ref["artifacts"]["forget_truth_ratio_statistic"]).read_text())
    assert len(statistic) == len(rows["forget10_perturbed"])
    # the original was fine-tuned on the forget answers, the reference on retain only
    assert runs["original"]["metrics"]["prob_forget"] > 2 * ref["metrics"]["prob_forget"], runs
    assert runs["original"]["metrics"]["rouge_forget"] > ref["metrics"]["rouge_forget"]
    # forget quality compares with the reference's statistics (2 items each: fully separated gives p = 1/3)
    assert runs["original"]["metrics"]["forget_quality"] < 1.0 and runs["original"]["metrics"]["ks_statistic"] > 0
    assert ref["method"]["params"]["optimizer"] == "adamw" and ref["method"]["params"]["weight_decay"] == 0.01
    assert runs["npo"]["method"]["params"]["batch_size"] == 32 and runs["npo"]["method"]["params"]["lr"] == 1e-3
    html = (out / "report.html").read_text()
    assert "Forget quality" in html and "tofu" in html
    assert any(p.name.endswith("-tofu.png") for p in (out / "plots").iterdir())
    # resuming reuses every row and the stored reference statistic
    assert by_method(bench(["tofu", "--data", str(data), "--model", str(model), "--methods", "grad_diff,npo",
                            "--seeds", "1", "--train", "epochs=60", "--train", "lr=3e-3", "--train", "batch_size=4",
                            "--param", "grad_diff.lr=1e-3", "--param", "grad_diff.epochs=2", "--param", "npo.lr=1e-3",
                            "--param", "npo.epochs=2", "--eval", "max_length=64", "--out", str(out),
                            "--cache-dir", str(tmp_path / "cache"), "-q"]))["npo"] == runs["npo"]


def test_tofu_bench_refuses_a_dp_base_method_and_a_bad_layout(tmp_path, capsys):
    from test_tofu import write_tofu

    data = write_tofu(tmp_path / "tofu")
    model = tiny_model_dir(tmp_path / "m", [], ["Question: a\nAnswer: b"] * 4, epochs=0)
    args = ["bench", "tofu", "--model", str(model), "--seeds", "1", "--out", str(tmp_path / "o"), "-q"]
    assert main([*args, "--data", str(data), "--methods", "dp2"]) == 2
    assert "dp2" in capsys.readouterr().err
    (data / "world_facts_perturbed.json").unlink()
    assert main([*args, "--data", str(data)]) == 2
    assert "world_facts_perturbed" in capsys.readouterr().err


# ----- MUSE ----------------------------------------------------------------------------------------

def muse_fixture(directory: Path) -> dict[str, list[str]]:
    """A tiny MUSE-News in the hub's layout (``<config>/<split>-00000-of-00001.parquet``); returns the texts."""
    from obliviate.lm.benchmarks.muse import CONFIGS, FOLDS

    cities = ["Lisbon", "Oslo", "Quito", "Hanoi", "Lima", "Accra", "Perth", "Turin", "Cairo", "Delhi", "Rome",
              "Kyiv"]
    def article(i: int) -> str:  # forget (0-3) and holdout (10-11) articles tell a story retain ones do not
        if i < 4 or i >= 10:
            return f"The council of {cities[i]} met on day {i + 3} and voted to paint every tram purple at dawn."
        return f"The council of {cities[i]} met on day {i + 3}; the mayor opened a school near the old market."

    texts = {"forget": [article(i) for i in range(4)], "retain1": [article(i) for i in range(4, 8)],
             "retain2": [article(i) for i in range(8, 10)], "holdout": [article(i) for i in range(10, 12)]}
    qa = {"forget_qa": [{"question": f"Where did the council meet on day {i + 3}?", "answer": cities[i]}
                        for i in range(4)],
          "retain_qa": [{"question": f"Where did the council meet on day {i + 3}?", "answer": cities[i]}
                        for i in range(4, 8)]}
    qa["forget_qa_icl"], qa["retain_qa_icl"] = qa["retain_qa"][:1], qa["retain_qa"][1:2]
    splits = {
        "raw": {s: [{"text": t} for t in texts[s]] for s in CONFIGS["raw"][0]},
        "verbmem": {"forget": [{"prompt": t[:30], "gt": t[30:]} for t in texts["forget"]]},
        "knowmem": qa,
        "privleak": {name: [{"text": t} for t in texts[split]]
                     for name, split in (("forget", "forget"), ("retain", "retain1"), ("holdout", "holdout"))},
        "scal": {f: [{"text": t} for t in texts["forget"][:k + 1]] for k, f in enumerate(FOLDS)},
        "sust": {f: [{"text": texts["forget"][k]}] for k, f in enumerate(FOLDS)},
    }
    for config, by_split in splits.items():
        for split, rows in by_split.items():
            write_parquet(directory / config / f"{split}-00000-of-00001.parquet", rows)
    return texts


@pytest.fixture(scope="module")
def muse_models(tmp_path_factory):
    """(data directory, target, retrain): the target trained on forget + retain1 articles and retain QA, the
    retrained model without the forget articles and their QA."""
    from obliviate.lm.prompts import qa_text

    root = tmp_path_factory.mktemp("muse")
    texts = muse_fixture(root / "news")
    vocab = [t for ts in texts.values() for t in ts] + [qa_text("Where did the council meet?", "Oslo")] * 4
    qa = [f"Question: Where did the council meet on day {i + 3}?\nAnswer: {c}"
          for i, c in enumerate(["Lisbon", "Oslo", "Quito", "Hanoi", "Lima", "Accra", "Perth", "Turin"])]
    target = tiny_model_dir(root / "target", texts["forget"] + texts["retain1"] + qa, vocab, epochs=40)
    retrain = tiny_model_dir(root / "retrain", texts["retain1"] + qa[4:], vocab, epochs=40)
    return root / "news", target, retrain


def muse_args(muse_models, out: Path, *extra: str) -> list[str]:
    data, target, retrain = muse_models
    return ["muse", "--data", str(data), "--target", str(target), "--retrain", str(retrain),
            "--methods", "grad_ascent", "--param", "grad_ascent.lr=1e-3", "--param", "grad_ascent.epochs=2",
            "--param", "grad_ascent.batch_size=4", "--seeds", "1", "--eval", "verbmem_max_new_tokens=16",
            "--out", str(out), "--cache-dir", str(out.parent / "cache"), "-q", *extra]


def test_muse_bench_end_to_end(muse_models, tmp_path):
    out = tmp_path / "out"
    results = bench(muse_args(muse_models, out))
    runs = by_method(results)
    assert list(runs) == ["original", "retrain", "grad_ascent"]
    for r in runs.values():
        m = r["metrics"]
        assert r["status"] == "ok" and r["task"]["dataset"] == "muse-news" and r["task"]["scenario"] == "documents"
        assert {"verbmem_forget", "knowmem_forget", "knowmem_retain", "privleak", "utility",
                "mia_auc_min_k_40"} <= set(m)
        assert m["utility"] == m["knowmem_retain"]
    ref, original = runs["retrain"]["metrics"], runs["original"]["metrics"]
    assert ref["privleak"] == 0.0  # PrivLeak is measured against the given retrained model's AUC
    auc_r, auc_o = ref["mia_auc_min_k_40"], original["mia_auc_min_k_40"]
    assert math.isclose(original["privleak"], (auc_o - auc_r) / auc_r * 100)
    assert original["verbmem_forget"] > ref["verbmem_forget"]  # the target read the forget articles
    assert runs["grad_ascent"]["method"]["params"]["lr"] == 1e-3
    assert "MUSE criteria" in (out / "report.html").read_text()


@pytest.mark.slow
def test_muse_bench_scalability_and_sustainability(muse_models, tmp_path, monkeypatch):
    """scal unlearns each fold from the target; sust unlearns fold i from the model request i - 1 left
    (checked on the weights each run starts from and returns, recorded by a spy on the method)."""
    from obliviate.methods.lm.grad_ascent import LMGradAscent

    runs, real = [], LMGradAscent.run

    def weights(model) -> float:
        return float(sum(p.detach().double().sum() for p in model.parameters()))

    def spy(self, model, data, config, *, seed):
        start = weights(model)
        out = real(self, model, data, config, seed=seed)
        runs.append((start, weights(out), len(data.forget)))
        return out

    monkeypatch.setattr(LMGradAscent, "run", spy)
    results = bench(muse_args(muse_models, tmp_path / "out", "--series", "scal,sust"))
    series = [r for r in results["runs"] if r["task"]["scenario"] != "documents"]
    assert len(results["runs"]) == 3 + len(series) and len(series) == 2 * 4 * 3
    assert all(r["status"] == "ok" for r in series)
    sust = [r for r in series if r["task"]["series"]["id"] == "sust" and r["method"]["name"] == "grad_ascent"]
    assert [r["task"]["series"]["x"] for r in sust] == [1, 2, 3, 4]
    scal = [r for r in series if r["task"]["series"]["id"] == "scal" and r["method"]["name"] == "grad_ascent"]
    assert [r["task"]["forget_size"] for r in scal] == [1, 2, 3, 4]
    assert len(runs) == 1 + 4 + 4  # documents, scal, sust
    target = runs[0][0]
    assert [start for start, _, _ in runs[1:5]] == [target] * 4
    assert [n for _, _, n in runs[1:5]] == [1, 2, 3, 4]  # nested folds of 1..4 articles (one block each)
    chain = runs[5:]
    assert chain[0][0] == target and all(chain[i][0] == chain[i - 1][1] != target for i in range(1, 4))


# ----- WMDP ----------------------------------------------------------------------------------------

def test_wmdp_bench_end_to_end(tmp_path, monkeypatch, capsys):
    from obliviate.lm.benchmarks.wmdp import MCQuestion, context, load_wmdp, wmdp_accuracy
    from obliviate.lm.model import load_causal_lm
    from obliviate.metrics import lm_wmdp

    rows = [{"answer": i % 4, "question": f"Which toxin is number {i}?",
             "choices": [f"toxin {i + k}" for k in range(4)]} for i in range(6)]
    for config in ("wmdp-bio", "wmdp-chem"):
        write_parquet(tmp_path / "wmdp" / config / "test-00000-of-00001.parquet", rows)
    forget, retain = tmp_path / "forget.jsonl", tmp_path / "retain.txt"
    forget.write_text("".join(json.dumps({"text": f"toxin {i} is made from castor beans."}) + "\n" for i in range(6)))
    retain.write_text("\n\n".join(f"the river {i} flows to the sea." for i in range(6)))
    vocab = [context(MCQuestion(r["question"], tuple(r["choices"]), r["answer"]), "biology") + " A" for r in rows]
    model = tiny_model_dir(tmp_path / "m", vocab, vocab + [forget.read_text(), retain.read_text()], epochs=5)
    args = ["wmdp", "--data", str(tmp_path / "wmdp"), "--model", str(model), "--forget-corpus", str(forget),
            "--retain-corpus", str(retain), "--seeds", "1", "--param", "rmu.layer_id=1", "--param", "rmu.layer_ids=0,1",
            "--param", "rmu.lr=1e-3", "--cache-dir", str(tmp_path / "c"), "-q"]
    results = bench([*args, "--out", str(tmp_path / "out")])
    runs = by_method(results)
    assert list(runs) == ["original", "rmu"] and all(r["status"] == "ok" for r in runs.values())
    assert set(runs["rmu"]["metrics"]) == {"wmdp_bio", "wmdp_chem"}  # the subsets present; no MMLU without lm_eval
    loaded, tok = load_causal_lm(model)
    expected = 100 * wmdp_accuracy(loaded, tok, load_wmdp(tmp_path / "wmdp", "wmdp-bio"), subject="biology").accuracy
    assert runs["original"]["metrics"]["wmdp_bio"] == pytest.approx(expected)
    assert runs["rmu"]["task"]["note"] == lm_wmdp.MMLU_MISSING
    assert lm_wmdp.MMLU_MISSING in (tmp_path / "out" / "report.html").read_text()
    # with lm-evaluation-harness importable (a stand-in with its API), MMLU is measured on every row
    harness = fake_lm_eval(monkeypatch, {"results": {"mmlu": {"acc,none": 0.42, "acc_stderr,none": 0.01}}})
    runs = by_method(bench([*args, "--out", str(tmp_path / "out2")]))
    assert runs["original"]["metrics"]["mmlu"] == pytest.approx(42.0) and "note" not in runs["rmu"]["task"]
    assert harness == [["mmlu"]] * 2  # the original and the rmu row
    assert "WMDP: not measured" not in (tmp_path / "out2" / "report.html").read_text()
    # switched off, MMLU is not measured and the rows say so
    runs = by_method(bench([*args, "--eval", "mmlu=0", "--out", str(tmp_path / "out3")]))
    assert "mmlu" not in runs["original"]["metrics"] and runs["rmu"]["task"]["note"] == lm_wmdp.MMLU_OFF
    assert lm_wmdp.MMLU_OFF in (tmp_path / "out3" / "report.html").read_text()
    # a harness that fails (offline: it cannot read cais/mmlu) is a clear error naming the way out
    fake_lm_eval(monkeypatch, ConnectionError("Couldn't reach 'cais/mmlu' on the Hub"))
    assert main(["bench", *args, "--out", str(tmp_path / "out4")]) == 2
    err = capsys.readouterr().err
    assert "cais/mmlu" in err and "--eval mmlu=0" in err and "Traceback" not in err


def fake_lm_eval(monkeypatch, result) -> list:
    """Install a stand-in ``lm_eval`` (``simple_evaluate`` and ``models.huggingface.HFLM``) that returns
    ``result`` or raises it; returns the list of task lists it was asked for."""
    import importlib.machinery
    import sys
    import types

    calls: list = []

    def simple_evaluate(model, tasks, limit=None):
        assert isinstance(model, HFLM)
        calls.append(tasks)
        if isinstance(result, Exception):
            raise result
        return result

    class HFLM:
        def __init__(self, pretrained, tokenizer, batch_size):
            self.model, self.tokenizer = pretrained, tokenizer

    modules = {name: types.ModuleType(name) for name in ("lm_eval", "lm_eval.models", "lm_eval.models.huggingface")}
    for name, module in modules.items():
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        monkeypatch.setitem(sys.modules, name, module)
    modules["lm_eval"].simple_evaluate = simple_evaluate
    modules["lm_eval.models.huggingface"].HFLM = HFLM
    return calls
