"""Every classifier method on one dataset: gaps to retrain and run time relative to retrain.

    python benchmarks/classifier_methods.py --dataset fashion-mnist --seeds 3 --out benchmarks/results/fashion
    python benchmarks/classifier_methods.py --recipe recipes/fashion-mnist-memorise.toml --forget random:0.1 \
        --methods retrain,finetune,l1_sparse,random_label,salun --prune '' --out benchmarks/results/fashion-mnist-memorise/heldout

Runs the bench (dense model: every registered classifier method; prune-first: OMP then FT) on
``random:0.1`` and ``class:K``, then prints, as ratios measured in this one run:
- per scenario, each method's average gap to retrain, UA gap and unlearning time / retrain time;
- the best method (lowest average gap) and its time ratio;
- the sparsity paper's claim: the fraction of FT's UA gap that l1_sparse and prune-first FT close;
- how well the original fits its training set: train (retain + forget), retain and test accuracy.
Writes results.json / report.html (the bench's) plus summary.json and sparsity_claim.png to --out.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from obliviate.classifier.bench import ClassifierBench
from obliviate.classifier.recipe_files import load_recipe
from obliviate.bench.run import run_suite
from obliviate.methods import METHODS, load_all
from obliviate.utils.io import atomic_write_json
from obliviate.utils.progress import set_quiet


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def summarize(doc: dict) -> dict:
    """Per (variant, scenario, method): mean average gap, UA gap and time ratio over seeds."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for run in doc["runs"]:
        if run["status"] != "ok":
            continue
        task = run["task"]
        scenario = task["forget_spec"] + (f" [{task['prune']}]" if task.get("prune") else "")
        cell = table.setdefault(scenario, {}).setdefault(run["method"]["name"], {"gap": [], "ua_gap": [], "ratio": []})
        cell["gap"].append(run["gap_to_retrain"]["average"])
        cell["ua_gap"].append(run["gap_to_retrain"]["unlearning_accuracy"])
        cell["ratio"].append(run["seconds"] / run["retrain_seconds"])
    return {s: {m: {k: _mean(v) for k, v in c.items()} for m, c in methods.items()} for s, methods in table.items()}


def original_fit(doc: dict) -> dict:
    """Per forget spec (dense models): mean train / retain / test accuracy of the original and the retrain
    reference over seeds; train accuracy is over retain + forget (the original's whole training set)."""
    cells: dict[str, dict[str, dict[str, list[float]]]] = {}
    for run in doc["runs"]:
        name, task = run["method"]["name"], run["task"]
        if run["status"] != "ok" or name not in ("original", "retrain") or task.get("prune"):
            continue
        m, n_f, n_r = run["metrics"], task["forget_size"], task["retain_size"]
        cell = cells.setdefault(task["forget_spec"], {}).setdefault(name, {"train": [], "retain": [], "test": []})
        cell["train"].append((m["forget_accuracy"] * n_f + m["retain_accuracy"] * n_r) / (n_f + n_r))
        cell["retain"].append(m["retain_accuracy"])
        cell["test"].append(m["test_accuracy"])
    return {s: {n: {k: _mean(v) for k, v in c.items()} for n, c in by.items()} for s, by in cells.items()}


def sparsity_claim(summary: dict, spec: str, prune: str) -> dict:
    """Fraction of FT's UA gap (dense) closed by l1_sparse (dense) and by FT on the pruned model."""
    dense, pruned = summary.get(spec, {}), summary.get(f"{spec} [{prune}]", {})
    ft = dense.get("finetune", {}).get("ua_gap")
    out = {"ft_ua_gap": ft}
    for name, entry in (("l1_sparse", dense.get("l1_sparse")), ("prune_first_ft", pruned.get("finetune"))):
        if ft is not None and entry is not None:
            out[f"{name}_ua_gap"] = entry["ua_gap"]
            out[f"{name}_closed_fraction"] = (ft - entry["ua_gap"]) / ft if ft > 0 else None
    return out


def plot_claim(claims: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=120)
    labels, width = ["FT (dense)", "l1_sparse", "prune-first FT"], 0.8 / max(len(claims), 1)
    for i, (spec, c) in enumerate(claims.items()):
        vals = [c.get("ft_ua_gap"), c.get("l1_sparse_ua_gap"), c.get("prune_first_ft_ua_gap")]
        xs = [j + i * width for j in range(3)]
        ax.bar(xs, [v if v is not None else 0 for v in vals], width, label=spec)
    ax.set_xticks([j + width * (len(claims) - 1) / 2 for j in range(3)], labels)
    ax.set_ylabel("UA gap to retrain (points)")
    ax.set_title("Sparsity claim: does sparsity close FT's UA gap?")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default=None, help="default: the --recipe file's, else fashion-mnist")
    p.add_argument("--recipe", default=None, help="recipe file (docs/recipes.md): original training, methods, subset")
    p.add_argument("--forget", action="append", default=None,
                   help="forget spec, repeatable (default: random:0.1 and class:K)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--forget-class", type=int, default=0, help="K of the class:K scenario")
    p.add_argument("--max-train", type=int, default=None, help="stratified training subset (CPU budget)")
    p.add_argument("--prune", default="omp:0.95", help="prune-first spec; '' for none")
    p.add_argument("--methods", default=None, help="comma list (default: every classifier method)")
    p.add_argument("--param", action="append", default=[], help="METHOD.NAME=VALUE, repeatable")
    p.add_argument("--train", action="append", default=[], help="NAME=VALUE recipe override, repeatable")
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--out", default="benchmarks/results/classifier")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    set_quiet(args.quiet)
    from obliviate.bench.options import kv as _kv, method_params as _method_params

    load_all()
    methods = args.methods.split(",") if args.methods else [
        n for n in METHODS.names() if METHODS.get(n).family == "classifier"
    ]
    specs = args.forget or ["random:0.1", f"class:{args.forget_class}"]
    dataset = args.dataset or (load_recipe(args.recipe).dataset if args.recipe else None) or "fashion-mnist"
    common = dict(dataset=dataset, recipe=args.recipe, forget=specs, seeds=list(range(args.seeds)), max_train=args.max_train,
                  cache_dir=args.cache_dir, params=_method_params(args.param), train=_kv(args.train, "--train"))
    benches = [ClassifierBench(methods=methods, **common)]
    if args.prune:
        benches.append(ClassifierBench(methods=["retrain", "finetune"], prune=args.prune,
                                       **{**common, "params": {k: v for k, v in common["params"].items() if k == "finetune"}}))
    out = Path(args.out)
    doc = run_suite("classifier-methods", benches, out, " ".join(["python", *sys.argv]))
    summary = summarize(doc)
    claims = {spec: sparsity_claim(summary, spec, args.prune) for spec in specs}  # l1_sparse alone when no --prune
    for scenario, rows in summary.items():
        print(f"\n{dataset} {scenario}")
        print(f"{'method':<20}{'avg gap':>10}{'UA gap':>10}{'time/retrain':>14}")
        for name, r in sorted(rows.items(), key=lambda kv: kv[1]["gap"]):
            print(f"{name:<20}{r['gap']:>10.2f}{r['ua_gap']:>10.2f}{r['ratio']:>14.3f}")
        candidates = {m: r for m, r in rows.items() if m not in ("retrain", "original")}
        if candidates:
            best = min(candidates, key=lambda m: candidates[m]["gap"])
            print(f"best: {best} (avg gap {candidates[best]['gap']:.2f}, time ratio {candidates[best]['ratio']:.3f})")
    for spec, c in claims.items():
        print(f"\nsparsity claim on {spec}: " + ", ".join(f"{k}={v:.3f}" for k, v in c.items() if isinstance(v, float)))
    fit = original_fit(doc)
    for spec, by in fit.items():
        print(f"\nfit on {spec}: " + "; ".join(
            f"{name} train {c['train']:.2f} retain {c['retain']:.2f} test {c['test']:.2f}" for name, c in by.items()))
    atomic_write_json(out / "summary.json", {"summary": summary, "sparsity_claim": claims, "fit": fit})
    if claims:
        plot_claim(claims, out / "sparsity_claim.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
