"""How much do the membership-inference scores and batched generation cost? Ratios from one run.

    python benchmarks/lm_scoring.py --people 40 --sizes tiny,small --repeats 7

1. Scoring: the time of :func:`~obliviate.metrics.lm_mia.score_sequences` (loss, zlib, Min-K% for every
   k, Min-K%++ for every k, reference ratio) over N documents, divided by the time of one plain forward
   pass over the same documents in the same batches (target: at most 1.25x).
2. Generation: greedy continuations of every document's prefix (VerbMem's prompts) and KnowMem's
   questions, batched (16 a batch) vs one prompt at a time; the speed-up, and whether the outputs are
   identical.

Models are untrained ``tiny_llama`` models of each size on the bench's tokenizer (512 tokens): the
cost of a forward pass does not depend on the weights. Timings interleave the two contenders and
report medians over ``--repeats``, on one torch thread (as the bench runs). Writes result.json and
scoring.png under benchmarks/results/lm_scoring/.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from obliviate.lm.bios import make_bios
from obliviate.lm.data import encode_all, lm_dataset, trim
from obliviate.lm.model import LM_SIZES, tiny_llama
from obliviate.lm.prompts import knowmem_prompt
from obliviate.lm.tokenizer import train_bpe_tokenizer
from obliviate.metrics.lm_mia import DEFAULT_KS, attack_names, score_sequences
from obliviate.metrics.lm_muse import greedy_generate

OUT = Path(__file__).resolve().parent / "results" / "lm_scoring"


def plain_forward(model: torch.nn.Module, dataset, batch_size: int) -> Callable[[], None]:
    """One forward pass over the dataset in score_sequences' batches (sorted by length, trimmed)."""
    ids, mask, labels = dataset.tensors
    order = torch.argsort(mask.sum(1), descending=True)

    @torch.inference_mode()
    def run() -> None:
        for start in range(0, len(ids), batch_size):
            idx = order[start:start + batch_size]
            b_ids, b_mask, _ = trim(ids[idx], mask[idx], labels[idx])
            model(input_ids=b_ids, attention_mask=b_mask).logits

    return run


def medians(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, calls interleaved so that load changes hit all alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for name, fn in fns.items():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--sizes", default="tiny,small")
    parser.add_argument("--vocab", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16, help="as the bench's evaluation (LMEvalConfig)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--new-tokens", type=int, default=48, help="greedy tokens per VerbMem prompt")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)

    corpus = make_bios(args.people, seed=0)
    texts = [t for split in ("forget", "retain", "holdout") for t in corpus.texts(split)]
    tok = train_bpe_tokenizer(corpus.all_text(), vocab_size=args.vocab)
    dataset = lm_dataset(tok, texts, max_length=128)
    prompts = [c[:13] for c in encode_all(tok, texts)]  # BOS + the bench's 12-token prefix
    questions = encode_all(tok, [knowmem_prompt(q) for q, _ in corpus.qa_pairs("retain")])
    report: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "documents": len(texts),
                    "tokens": int(dataset.tensors[1].sum()), "vocab": len(tok), "torch": torch.__version__,
                    "cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
                    "attacks": attack_names(DEFAULT_KS, reference=True), "sizes": {}}
    for size in args.sizes.split(","):
        if size not in LM_SIZES:
            parser.error(f"unknown size {size!r}; known: {', '.join(LM_SIZES)}")
        model = tiny_llama(len(tok), size=size, seed=0)
        ref_losses = torch.rand(len(texts)).numpy()
        scoring = medians({
            "forward": plain_forward(model, dataset, args.batch_size),
            "score_all_attacks": lambda: score_sequences(model, tok, texts, batch_size=args.batch_size,
                                                         max_length=128, reference_losses=ref_losses),
        }, args.repeats)
        generation: dict[str, dict] = {}
        for kind, items, new_tokens in (("verbmem", prompts, args.new_tokens), ("knowmem", questions, 32)):
            outputs: dict[int, list[list[int]]] = {}

            def generate(batch: int, items=items, new_tokens=new_tokens, outputs=outputs) -> None:
                outputs[batch] = greedy_generate(model, tok, items, max_new_tokens=new_tokens, batch_size=batch)

            seconds = medians({"one_at_a_time": lambda: generate(1), "batched_16": lambda: generate(16)},
                              max(1, args.repeats // 3))
            generation[kind] = {"prompts": len(items), "max_new_tokens": new_tokens, "seconds": seconds,
                                "speedup": seconds["one_at_a_time"] / seconds["batched_16"],
                                "identical_outputs": outputs[1] == outputs[16]}
        report["sizes"][size] = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "scoring_seconds": scoring,
            "scoring_over_forward": scoring["score_all_attacks"] / scoring["forward"],
            "generation": generation,
        }
        print(size, json.dumps(report["sizes"][size]), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "result.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    plot(report, args.out / "scoring.png")
    print(f"wrote {args.out / 'result.json'} and scoring.png")


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = list(report["sizes"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    ratios = [report["sizes"][s]["scoring_over_forward"] for s in sizes]
    left.bar(sizes, ratios, color="tab:blue")
    left.axhline(1.25, color="tab:red", linestyle="--", label="target 1.25x")
    left.axhline(1.0, color="grey", linewidth=0.8)
    left.set_ylabel("time / plain forward")
    left.set_title(f"all {len(report['attacks'])} MIA scores, {report['documents']} docs")
    left.legend(loc="lower right")
    width = 0.38
    for offset, kind in ((-width / 2, "verbmem"), (width / 2, "knowmem")):
        speedups = [report["sizes"][s]["generation"][kind]["speedup"] for s in sizes]
        right.bar([i + offset for i in range(len(sizes))], speedups, width, label=kind)
    right.set_xticks(range(len(sizes)), sizes)
    right.set_ylabel("one-at-a-time / batched (16)")
    right.set_title("greedy generation speed-up")
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
