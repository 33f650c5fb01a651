"""How many retain fine-tuning epochs does a DP-SGD base need, compared with training from scratch?

    python benchmarks/dp2_recipe.py --epsilon 0.5 --dp-epochs 40 --finetune 5,10,20,40

On the LM bench's bios set-up (tiny Llama, 20 people, lr 3e-3, batch 16, cosine): trains the DP base
on all training texts once, then for each epoch count fine-tunes it on the retain texts and, beside it,
trains a fresh model from the same initialisation on the retain texts (exact retrain at that budget).
Prints one JSON object: the DP record and, per epoch count, KnowMem on forget / retain and seconds.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch

from obliviate.lm.bios import make_bios
from obliviate.lm.data import lm_dataset
from obliviate.lm.dp import DPTrainConfig, train_lm_dp
from obliviate.lm.model import tiny_llama
from obliviate.lm.task import LMTask
from obliviate.lm.tokenizer import train_bpe_tokenizer
from obliviate.lm.train import LMTrainConfig, train_lm
from obliviate.metrics.lm_muse import knowmem
from obliviate.utils.progress import set_quiet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--epsilon", type=float, default=0.5)
    parser.add_argument("--delta", type=float, default=1e-12)
    parser.add_argument("--dp-epochs", type=int, default=40)
    parser.add_argument("--dp-lr", type=float, default=3e-3)
    parser.add_argument("--finetune", default="5,10,20,40", help="comma-separated retain epoch counts")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    set_quiet(True)
    corpus = make_bios(args.people, seed=args.seed, forget_fraction=0.2, holdout_fraction=0.2, n_general=40)
    tok = train_bpe_tokenizer(corpus.all_text(), vocab_size=512)
    task = LMTask(corpus, tok)
    fresh = tiny_llama(len(tok), seed=args.seed)
    base = copy.deepcopy(fresh)
    dp = DPTrainConfig(epsilon=args.epsilon, delta=args.delta, epochs=args.dp_epochs, lr=args.dp_lr,
                       optimizer="adam", weight_decay=0.0)
    record = train_lm_dp(base, lm_dataset(tok, task.original_texts()), dp, seed=args.seed)
    retain = task.unlearn_data().retain

    def scores(model) -> dict[str, float]:
        return {s: round(knowmem(model, tok, corpus.qa_pairs(s)).score, 1) for s in ("forget", "retain")}

    out = {"dp": record.as_dict(), "dp_base": scores(base), "runs": []}
    for epochs in (int(e) for e in args.finetune.split(",")):
        recipe = LMTrainConfig(epochs=epochs, lr=3e-3, batch_size=16)
        for start_name, start in (("dp_base", base), ("scratch", fresh)):
            model = copy.deepcopy(start)
            t0 = time.perf_counter()
            train_lm(model, retain, recipe, seed=args.seed)
            out["runs"].append({"start": start_name, "epochs": epochs, "seconds": round(time.perf_counter() - t0, 2),
                                "knowmem": scores(model)})
        print(json.dumps(out["runs"][-2:]), flush=True)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
