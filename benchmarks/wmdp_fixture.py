"""RMU on a WMDP-format fixture through the CLI (issue 17, evidence (c)); this CPU has no WMDP model or corpus.

    python benchmarks/wmdp_fixture.py [--fixture DIR] [--out benchmarks/results/wmdp-rmu] [--seeds 10,11,12]
                                      [--no-questions-in-corpus] [--prepare-only]    (run from the repository root)

Writes (once; reused when ``--fixture`` already holds it) the fixture of
:mod:`obliviate.lm.benchmarks.wmdp_fixture`: multiple-choice questions on 3 forget people (``wmdp-bio``) and
6 retain people (``wmdp-chem``) in cais/wmdp's parquet layout, the forget and retain corpora as jsonl, and
the tiny Llama trained on all of it (seed 0); then runs

    obliviate bench wmdp --data FIXTURE/data --model FIXTURE/model --forget-corpus FIXTURE/forget.jsonl
        --retain-corpus FIXTURE/retain.jsonl --methods rmu --recipe recipes/wmdp-fixture-tiny-llama-rmu.toml
        --seeds 10,11,12 --threads 1 --out OUT

The recipe's RMU settings were chosen on RMU seeds 0-3 of this fixture (tests/test_wmdp.py), so the report's
seeds are 10-12. Chance is 25% on both topics.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from obliviate.cli import main as cli

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "wmdp-fixture-tiny-llama-rmu.toml"


def prepare(folder: Path, questions_in_corpus: bool) -> dict[str, Path]:
    """The fixture under ``folder`` (the model trained when ``folder/model`` is absent; it does not depend on
    ``questions_in_corpus``, which only changes the forget corpus: ``forget.jsonl`` or
    ``forget-no-questions.jsonl``)."""
    from obliviate.lm.benchmarks.wmdp_fixture import build_fixture, train_fixture_model, write_fixture

    fixture = build_fixture(12, seed=0)
    if (folder / "model" / "config.json").is_file():
        paths = write_fixture(fixture, folder) | {"model": folder / "model"}
    else:
        paths = write_fixture(fixture, folder, *train_fixture_model(fixture, seed=0))
    if not questions_in_corpus:
        without = build_fixture(12, seed=0, questions_in_corpus=False)
        paths["forget"] = write_fixture(without, folder / "no-questions")["forget"]
    return paths


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it (results then name the repo's file)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture", type=Path, default=Path.home() / ".cache" / "obliviate" / "wmdp-fixture")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "wmdp-rmu")
    parser.add_argument("--seeds", default="10,11,12")
    parser.add_argument("--no-questions-in-corpus", action="store_true",
                        help="leave the answered forget-topic questions out of the forget corpus")
    parser.add_argument("--prepare-only", action="store_true", help="write the fixture and stop")
    args = parser.parse_args(argv)
    paths = prepare(args.fixture, not args.no_questions_in_corpus)
    print("fixture:", {k: str(v) for k, v in paths.items()})
    if args.prepare_only:
        return 0
    return cli(["bench", "wmdp", "--data", str(paths["data"]), "--model", str(paths["model"]),
                "--forget-corpus", str(paths["forget"]), "--retain-corpus", str(paths["retain"]),
                "--methods", "rmu", "--recipe", _shown(RECIPE), "--seeds", args.seeds, "--threads", "1",
                "--out", str(args.out)])


if __name__ == "__main__":
    sys.exit(main())
