"""Does a small Llama trained from scratch on ``bios`` memorise it, and how long does that take?

    python benchmarks/lm_memorisation.py --people 40 --size small --epochs 30

Trains the original (forget + retain people) and the retrain reference (retain people only) with
the shared loop, then prints one JSON object: training seconds, mean loss per split, forget-vs-holdout
membership AUCs, KnowMem per split, VerbMem on forget, and perplexity on held-out general text.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from obliviate.lm.bios import SPLITS, make_bios
from obliviate.lm.data import lm_dataset
from obliviate.lm.model import LM_SIZES, tiny_llama
from obliviate.lm.tokenizer import train_bpe_tokenizer
from obliviate.lm.train import LMTrainConfig, train_lm
from obliviate.metrics.lm_mia import mia_aucs, score_sequences
from obliviate.metrics.lm_muse import knowmem, perplexity, verbmem
from obliviate.utils.progress import set_quiet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--size", choices=list(LM_SIZES), default="small")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--vocab", type=int, default=1024)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--prefix-tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    set_quiet(True)

    corpus = make_bios(args.people, seed=args.seed, forget_fraction=0.2, holdout_fraction=0.2)
    start = time.perf_counter()
    tok = train_bpe_tokenizer(corpus.all_text(), vocab_size=args.vocab)
    report: dict = {"args": vars(args), "vocab": len(tok), "tokenizer_seconds": time.perf_counter() - start}
    recipe = LMTrainConfig(epochs=args.epochs)
    for name, include_forget in (("original", True), ("retrain", False)):
        texts = corpus.training_texts(include_forget=include_forget)
        model = tiny_llama(len(tok), size=args.size, seed=args.seed)
        stats = train_lm(model, lm_dataset(tok, texts, max_length=args.max_length), recipe, seed=args.seed)
        scores = {s: score_sequences(model, tok, corpus.texts(s)) for s in SPLITS}
        report[name] = {
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_texts": len(texts),
            "train_seconds": round(stats.seconds, 1),
            "steps": stats.steps,
            "mean_loss": {s: round(float(v["loss"].mean()), 3) for s, v in scores.items()},
            "auc_forget_vs_holdout": {k: round(v, 3) for k, v in mia_aucs(scores["forget"], scores["holdout"]).items()},
            "knowmem": {s: round(knowmem(model, tok, corpus.qa_pairs(s)).score, 1)
                        for s in SPLITS},
            "verbmem_forget": round(
                verbmem(model, tok, corpus.texts("forget"), prefix_tokens=args.prefix_tokens).score, 1
            ),
            "perplexity_general_eval": round(perplexity(model, tok, corpus.general_eval), 2),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
