"""`obliviate bench lm` end to end on a tiny corpus: schema-valid results, MUSE rows and gaps, report
with the MUSE criteria and plots, resuming; bad input fails before training with a clear message."""

from __future__ import annotations

import json

import pytest

from obliviate.lm.bench import LMBench
from obliviate.lm.report import muse_criteria, muse_verdicts
from obliviate.bench.results import validate_results
from obliviate.cli import main
from obliviate.errors import ConfigError, ModelLoadError, UnknownNameError
from obliviate.lm.model import load_causal_lm

from lm_support import one_torch_thread  # noqa: F401  (autouse fixture)

ARGS = ["bench", "lm", "--corpus", "bios", "--model", "tiny", "--people", "10", "--seeds", "1",
        "--methods", "retrain,grad_ascent,npo_gdr", "--train", "epochs=35", "--eval", "verbmem_new_tokens=24", "-q"]


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("lm-bench")
    cache = tmp_path_factory.mktemp("lm-cache")
    args = [*ARGS, "--out", str(out), "--cache-dir", str(cache)]
    assert main(args) == 0
    return out, cache, args


@pytest.mark.slow
def test_cli_writes_schema_valid_lm_results_and_report(bench_run):
    out, cache, _ = bench_run
    doc = json.loads((out / "results.json").read_text())
    validate_results(doc)
    runs = {r["method"]["name"]: r for r in doc["runs"]}
    assert set(runs) == {"original", "retrain", "grad_ascent", "npo_gdr"}
    assert all(r["family"] == "lm" and r["status"] == "ok" for r in runs.values())
    task = runs["retrain"]["task"]
    assert (task["dataset"], task["scenario"], task["size_unit"]) == ("bios", "documents", "people")
    assert (task["forget_size"], task["retain_size"]) == (2, 6)
    for name in ("verbmem_forget", "knowmem_forget", "knowmem_retain", "privleak", "utility", "perplexity",
                 "mia_auc_min_k_40", "mia_auc_min_k++_20", "mia_auc_zlib"):
        assert name in runs["npo_gdr"]["metrics"], name
    assert runs["retrain"]["metrics"]["privleak"] == 0 and runs["retrain"]["gap_to_retrain"]["average"] == 0
    # the reference-model attack, calibrated on the retrain reference: chance for the reference itself (every
    # score is 0), and the original's forget documents stand out against their loss under the reference
    assert all("mia_auc_ref" in r["metrics"] for r in runs.values())
    assert runs["retrain"]["metrics"]["mia_auc_ref"] == 0.5
    assert runs["original"]["metrics"]["mia_auc_ref"] > 0.9
    assert runs["npo_gdr"]["method"]["params"]["retain_loss"] == "gdr"
    # the original memorised the forget people, the retrain reference did not
    assert runs["original"]["metrics"]["knowmem_forget"] > runs["retrain"]["metrics"]["knowmem_forget"] + 30
    assert runs["original"]["gap_to_retrain"]["average"] > runs["retrain"]["gap_to_retrain"]["average"]
    assert runs["grad_ascent"]["time_ratio"] < 1
    html = (out / "report.html").read_text()
    assert "MUSE criteria" in html and "PrivLeak within [-5, 5]" in html
    plots = {p.name.rsplit("-", 1)[-1] for p in (out / "plots").iterdir()}
    assert {"knowmem.png", "privleak.png"} <= plots
    assert len([p for p in cache.iterdir() if p.name.startswith("lm-")]) == 2  # original + retrain, cached


@pytest.mark.slow
def test_rerun_resumes_without_rerunning_rows(bench_run):
    out, _, args = bench_run
    before = json.loads((out / "results.json").read_text())["runs"]
    assert main(args) == 0
    after = json.loads((out / "results.json").read_text())["runs"]
    assert [r["seconds"] for r in after] == [r["seconds"] for r in before]


def test_muse_verdicts_apply_the_stated_thresholds():
    def entry(method, **metrics):
        return {"method": method, "metrics": {k: {"mean": v, "std": 0.0, "n": 1} for k, v in metrics.items()}}

    entries = [
        entry("retrain", verbmem_forget=20, knowmem_forget=10, privleak=0, utility=90),
        entry("original", verbmem_forget=100, knowmem_forget=100, privleak=90, utility=100),
        entry("good", verbmem_forget=20, knowmem_forget=5, privleak=-4.9, utility=95),
        entry("bad", verbmem_forget=21, knowmem_forget=11, privleak=6, utility=94.9),
    ]
    verdicts = muse_verdicts(entries)
    assert set(verdicts) == {"good", "bad"}
    assert all(verdicts["good"].values()) and not any(verdicts["bad"].values())
    assert list(verdicts["good"]) == [name for name, *_ in muse_criteria()]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--methods", "retrain,finetune"], "belongs to the classifier family"),
        (["--methods", "npo,simpno"], "Did you mean 'simnpo'"),
        (["--model", "huge"], "unknown lm model 'huge'"),
        (["--corpus", "news"], "unknown lm corpus 'news'"),
        (["--param", "npo.beta=-1"], "beta must be > 0"),
        (["--eval", "prefix=3"], "unknown lm evaluation setting"),
    ],
)
def test_bad_input_fails_before_training(tmp_path, capsys, extra, message):
    args = [*ARGS, "--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    args += extra
    if "--param" in extra:
        args[args.index("--methods") + 1] = "retrain,npo"
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()


def test_families_keep_their_flags_and_methods(tmp_path, capsys):
    out = ["--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    assert main(["bench", "lm", "--forget", "random:0.1", *out]) == 2
    assert "unknown lm forget spec 'random:0.1'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # another family's flag: an argparse error
        main(["bench", "lm", "--prune", "omp:0.5", *out])
    assert exc.value.code == 2 and "unrecognized arguments: --prune" in capsys.readouterr().err
    assert main(["bench", "classifier", "--methods", "retrain,npo", *out]) == 2
    assert "'npo' belongs to the lm family" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()


def test_missing_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_causal_lm(tmp_path / "nope")


def test_bench_object_validates_names_and_seeds():
    with pytest.raises(UnknownNameError):
        LMBench(methods=["retrain", "scrub"]).validate()
    with pytest.raises(ConfigError, match="at least one seed"):
        LMBench(seeds=[]).validate()
