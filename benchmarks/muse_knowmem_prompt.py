"""Why MUSE's KnowMem reads ~0 on bios-as-MUSE: KnowMem forget of the cached bios originals (MUSE's targets)
under MUSE's exact prompt (3 `_icl` shots, prompt ending "Answer: "), the same without the trailing space,
and zero-shot without it (the bios bench's prompt form). Writes benchmarks/results/lm-bios20-muse/knowmem_prompt.json.

    python benchmarks/muse_knowmem_prompt.py --seeds 10,11,12 --people 20
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from unittest import mock

from obliviate.lm.bench_hub import load_model
from obliviate.lm.bench_muse_trained import MuseTrainedBench
from obliviate.lm.benchmarks import muse
from obliviate.utils.io import atomic_write_json

OUT = Path(__file__).resolve().parent / "results" / "lm-bios20-muse" / "knowmem_prompt.json"


def scores(seed: int, people: int) -> dict[str, float]:
    data, target, _ = MuseTrainedBench(people=people, seeds=[seed]).bios_models(seed)
    model, tok = load_model(target, "float32")
    qa = muse.load_config(data, "knowmem")
    exact = muse.knowmem_prompt
    out = {"muse_exact": muse.knowmem(model, tok, qa["forget_qa"], qa["forget_qa_icl"]).score}
    with mock.patch.object(muse, "knowmem_prompt", lambda q, icl: exact(q, icl).rstrip(" ")):
        out["no_trailing_space"] = muse.knowmem(model, tok, qa["forget_qa"], qa["forget_qa_icl"]).score
        out["zero_shot_no_trailing_space"] = muse.knowmem(model, tok, qa["forget_qa"], []).score
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="10,11,12")
    parser.add_argument("--people", type=int, default=20)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    per_seed = {seed: scores(seed, args.people) for seed in seeds}
    summary = {k: {"mean": statistics.mean(v[k] for v in per_seed.values()),
                   "std": statistics.stdev(v[k] for v in per_seed.values()) if len(seeds) > 1 else 0.0}
               for k in next(iter(per_seed.values()))}
    atomic_write_json(OUT, {"command": f"python benchmarks/muse_knowmem_prompt.py --seeds {args.seeds} --people "
                                       f"{args.people}", "metric": "KnowMem forget of the original (MUSE target)",
                            "per_seed": per_seed, "summary": summary})
    print(summary)


if __name__ == "__main__":
    main()
