"""Evidence for ADU vs its prompt-learning baseline on the embedded multi-domain digits benchmark.

Runs ``obliviate bench clip`` (tiny CLIP pretrained per seed, 4 domains, forget specs domain:any=1/2/3,
i.e. all 14 forget-domain combinations, 16 shots) for domain_baseline and adu over the seeds, then prints
H / Mem / For as mean ± std over seeds for each |D_forget| and for their average, the unlearning time
per combination, the pretraining time and the zero-shot per-domain accuracy of the pretrained CLIPs.
``--ablations`` adds, on domain:any=1, the paper's ablations of ADU (without the prompt generator,
without the Domain Disentangling Loss, DDL with only its domain cross-entropy or only its MMD) and the
baseline with a 3x forgetting weight (``--ablation NAME`` picks some).

``--tune`` searches ADU's two DDL weights (``gamma``, ``mmd_weight``) on a grid (:data:`GRID`, :data:`EXTRA_POINTS`) on
*validation* seeds (``--validation-seeds``, >= 100, so disjoint from every reported seed: they vary the
pretrained CLIP, the few-shot draw and the prompts' initialisation), objective H on domain:any=1, and
writes ``OUT/validation/study.json`` (every point's H / Mem / For and the chosen weights). The chosen
point is the best H among points with both weights > 0 (ADU's full loss); points with a zero weight are
measured too, so the study shows whether either term helps at all. ``--part I/N`` runs every N-th point
(several processes share one study; rerun without it to collect, or with ``--collect`` to write the
study from the finished points only, running nothing). Usage::

    python benchmarks/clip_adu.py [--seeds 3 | --seed-list 10,11,12] [--out DIR] [--ablations]
    python benchmarks/clip_adu.py --tune [--validation-seeds 100] --out benchmarks/results/clip_adu_tuned
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
from pathlib import Path
from typing import Any

from obliviate.bench.run import run_suite
from obliviate.clip.bench import ClipBench
from obliviate.errors import ConfigError
from obliviate.report import STD_NOTE, sample_std
from obliviate.tune.command import FIRST_VALIDATION_SEED
from obliviate.utils.io import atomic_write_json, atomic_write_text

#: name -> (method, params) on domain:any=1: the paper's ablations of ADU (Kawamura et al. 2025, Office-Home
#: |D_forget| = 1: without InstaPG, without DDL, DDL's CE only, DDL's MMD only), and a baseline that weighs
#: its forgetting term 3x (is the baseline's low For just an under-weighted entropy term?)
ABLATIONS = {
    "adu_no_generator": ("adu", {"generator_layers": "none"}),
    "adu_no_ddl": ("adu", {"gamma": 0.0, "mmd_weight": 0.0}),
    "adu_ce_only": ("adu", {"mmd_weight": 0.0}),
    "adu_mmd_only": ("adu", {"gamma": 0.0}),
    "baseline_forget_weight_3": ("domain_baseline", {"forget_weight": 3.0}),
}

#: ADU's DDL weights searched by ``--tune``: each of GRID's values crossed with each (the old untuned default
#: 1 and two decades below it: at 1 the DDL lowered H on seeds 0-2), plus :data:`EXTRA_POINTS`: the paper's
#: values (gamma 30, lambda 10) and no DDL at all (is either better than the chosen point on validation?)
GRID = {"gamma": (0.01, 0.1, 1.0), "mmd_weight": (0.01, 0.1, 1.0)}
EXTRA_POINTS = ({"gamma": 30.0, "mmd_weight": 10.0}, {"gamma": 0.0, "mmd_weight": 0.0})
TUNE_SPEC = "domain:any=1"


def _pm(values: list[float]) -> str:
    return f"{statistics.fmean(values):.1f} ± {sample_std(values):.1f}"


def summarise(runs: list[dict], label: str | None = None) -> str:
    ok = [r for r in runs if r["status"] == "ok"]
    specs = list(dict.fromkeys(r["task"]["forget_spec"] for r in ok))
    methods = list(dict.fromkeys(r["method"]["name"] for r in ok))
    seeds = sorted({r["seed"] for r in ok})
    lines = [f"| method | {' | '.join(f'H {s}' for s in specs)} | H mean | Mem mean | For mean | s / combination |",
             "|---" * (len(specs) + 5) + "|"]
    for m in methods:
        by = {(r["task"]["forget_spec"], r["seed"]): r for r in ok if r["method"]["name"] == m}
        cells = [_pm([by[s, seed]["metrics"]["h"] for seed in seeds if (s, seed) in by]) for s in specs]
        overall = {k: [statistics.fmean(by[s, seed]["metrics"][k] for s in specs) for seed in seeds
                       if all((s, seed) in by for s in specs)] for k in ("h", "mem", "for")}
        secs = [r["seconds"] for r in by.values()]
        lines.append(f"| {label or ''}{m} | {' | '.join(cells)} | {_pm(overall['h'])} | {_pm(overall['mem'])} | "
                     f"{_pm(overall['for'])} | {statistics.fmean(secs):.1f} |")
    return "\n".join(lines)


def zero_shot(runs: list[dict]) -> str:
    rows = {r["seed"]: r["method"]["params"] for r in runs if r["method"]["name"] == "original" and r["status"] == "ok"}
    lines = []
    for seed, p in sorted(rows.items()):
        acc = ", ".join(f"{k.removeprefix('zero_shot_acc_')} {v:.1f}" for k, v in p.items() if k.startswith("zero_shot_acc_"))
        secs = p.get("pretrain_seconds")
        lines.append(f"seed {seed}: zero-shot class accuracy (test) {acc}; pretraining {secs:.0f} s" if secs is not None
                     else f"seed {seed}: zero-shot class accuracy (test) {acc}")
    return "\n".join(lines)


def grid_points() -> list[dict[str, float]]:
    """Every (gamma, mmd_weight) of :data:`GRID` and :data:`EXTRA_POINTS`, in a fixed order."""
    crossed = [{"gamma": g, "mmd_weight": m} for g, m in itertools.product(GRID["gamma"], GRID["mmd_weight"])]
    return crossed + [dict(p) for p in EXTRA_POINTS]


def point_dir(point: dict[str, float]) -> str:
    return f"gamma_{point['gamma']:g}_mmd_{point['mmd_weight']:g}"


def point_score(runs: list[dict], point: dict[str, float]) -> dict[str, Any]:
    """ADU's H / Mem / For at one grid point: the mean over seeds of each seed's row (itself the mean over
    the spec's combinations), and H per seed."""
    rows = sorted((r for r in runs if r["method"]["name"] == "adu"), key=lambda r: r["seed"])
    failed = [r for r in rows if r["status"] != "ok"]
    if not rows or failed:
        raise ConfigError(f"ADU at {point} failed: {failed[0].get('error') if failed else 'no rows'}")
    score = {k: statistics.fmean(r["metrics"][k] for r in rows) for k in ("h", "mem", "for")}
    return {**point, **score, "h_per_seed": {str(r["seed"]): r["metrics"]["h"] for r in rows}, "dir": point_dir(point)}


def choose(points: list[dict[str, Any]]) -> dict[str, Any]:
    """The best H among points with both DDL weights > 0 (ADU's full loss; ties: the earlier point)."""
    full = [p for p in points if p["gamma"] > 0 and p["mmd_weight"] > 0]
    if not full:
        raise ConfigError("no grid point with both DDL weights > 0 was measured")
    return max(full, key=lambda p: p["h"])


def validation_seeds(text: str) -> list[int]:
    """``--validation-seeds``: distinct integers, each >= :data:`FIRST_VALIDATION_SEED` (reported seeds are lower)."""
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--validation-seeds expects comma-separated integers, got {text!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < FIRST_VALIDATION_SEED:
        raise ConfigError(f"--validation-seeds needs distinct seeds >= {FIRST_VALIDATION_SEED} (reports use lower "
                          f"ones), got {text!r}")
    return seeds


def tune(out: Path, seeds: list[int], part: tuple[int, int] | None, cache_dir: str | None, command: str,
         collect: bool = False, study_name: str = "study") -> str:
    """Run the grid (or every N-th point of it) on the validation seeds; without ``part`` also write the study.
    ``collect``: run nothing, write the study from the points whose runs finished (the others listed as not run)."""
    points = grid_points()
    mine = points if part is None else points[part[0]::part[1]]
    scored, not_run = [], []
    for point in mine:
        path = out / "validation" / point_dir(point)
        if collect:
            if not (path / "results.json").is_file():
                not_run.append(point)
                continue
            runs = json.loads((path / "results.json").read_text(encoding="utf-8"))["runs"]
        else:
            bench = ClipBench(seeds=seeds, forget=[TUNE_SPEC], methods=["adu"], params={"adu": dict(point)},
                              cache_dir=cache_dir)
            runs = run_suite("clip", [bench], path, command)["runs"]
        if sorted({r["seed"] for r in runs}) != sorted(seeds):
            raise ConfigError(f"{path} holds seeds {sorted({r['seed'] for r in runs})}, not the validation seeds {seeds}")
        scored.append(point_score(runs, point))
    if part is not None:
        return f"grid part {part[0]}/{part[1]}: {len(scored)} points done"
    chosen, best = choose(scored), max(scored, key=lambda p: p["h"])
    study = {
        "method": "adu", "objective": f"H (higher is better), mean over the validation seeds of the mean over the "
        f"{TUNE_SPEC} combinations", "forget": TUNE_SPEC, "validation_seeds": seeds, "grid": GRID,
        "extra_points": EXTRA_POINTS,
        "chosen_rule": "the best H among points with gamma > 0 and mmd_weight > 0 (ADU's full loss)",
        "chosen": chosen, "best_any": best, "points": scored, "not_run": not_run, "command": command,
    }
    atomic_write_json(out / "validation" / f"{study_name}.json", study)
    lines = [f"## ADU's DDL weights on validation seeds {seeds} ({TUNE_SPEC}; H / Mem / For in %)",
             "| gamma | mmd_weight | H | Mem | For | H per seed |", "|---|---|---|---|---|---|"]
    for p in scored:
        per = ", ".join(f"{v:.1f}" for v in p["h_per_seed"].values())
        mark = " (chosen)" if p is chosen else ""
        lines.append(f"| {p['gamma']:g} | {p['mmd_weight']:g}{mark} | {p['h']:.1f} | {p['mem']:.1f} | {p['for']:.1f} | {per} |")
    if not_run:
        lines.append("\nnot run (CPU time): " + ", ".join(point_dir(p) for p in not_run))
    lines.append(f"\nchosen: gamma={chosen['gamma']:g}, mmd_weight={chosen['mmd_weight']:g} (H {chosen['h']:.1f}); best "
                 f"of any point: gamma={best['gamma']:g}, mmd_weight={best['mmd_weight']:g} (H {best['h']:.1f})")
    return "\n".join(lines)


def collect_rows(bench: ClipBench, out_dir: Path, command: str) -> dict[str, Any]:
    """results.json of ``bench`` built from the finished rows under ``out_dir``/rows (written by runs of it, e.g.
    one process per seed); nothing is trained and no report is drawn. A missing row is an error."""
    from obliviate.bench.results import build_results, write_results
    from obliviate.bench.run import suite_config

    order = {name: i for i, name in enumerate(["original", *bench.methods])}
    runs = [json.loads(f.read_text(encoding="utf-8")) for f in sorted((out_dir / "rows").glob("*.json"))]
    runs = [r for r in runs if r.get("status") == "ok" and r["method"]["name"] in order and r["seed"] in bench.seeds
            and r["task"]["forget_spec"] in bench.forget]
    runs.sort(key=lambda r: (r["seed"], bench.forget.index(r["task"]["forget_spec"]), order[r["method"]["name"]]))
    if len(runs) != bench.row_count():
        raise ConfigError(f"{out_dir}: {len(runs)} finished rows, {bench.row_count()} expected: run the missing ones first")
    doc = build_results("clip", runs, suite_config("clip", [bench]), command)
    write_results(out_dir, doc)
    return doc


def separability(seeds: list[int], cache_dir: str | None) -> dict[str, Any]:
    """How separable the pretrained CLIPs' domains already are (the paper: zero-shot CLIP 25.8% domain accuracy
    on Office-Home, 79.4% after ADU): per seed, domain accuracy on the test images of (a) zero-shot domain
    prediction, argmax over domains of logsumexp over classes of the caption logits "a {domain} of a {class}",
    and (b) nearest centroid of the L2-normalised image embeddings, centroids from the 16-shot training draw
    of that seed (what ADU's domain head sees). Inference only."""
    import torch

    from obliviate.bench.cache import default_cache_dir
    from obliviate.clip.bench import _backbone
    from obliviate.clip.domains import few_shot
    from obliviate.clip.model import TEMPLATE, ClipClassifier

    bench = ClipBench(seeds=seeds, cache_dir=cache_dir)
    data = bench.load_data()
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    templates = [TEMPLATE.replace("{domain}", d) for d in data.domains]
    out: dict[str, Any] = {"seeds": seeds, "test_images": len(data.test.y), "domains": list(data.domains),
                           "chance": 100.0 / len(data.domains), "per_seed": {}}
    for seed in seeds:
        backbone, _ = _backbone(bench, data, seed, cache)
        model = ClipClassifier(backbone, data.class_names, templates).eval()
        with torch.no_grad():
            emb = torch.cat([model.image_embeddings(x) for x in data.test.x.split(512)])
            joint = torch.einsum("be,tce->btc", emb, model.text_features)
            zero_shot = (torch.logsumexp(joint, dim=2).argmax(1) == data.test.d).float().mean().item() * 100
            keep = torch.as_tensor(few_shot(data.train, bench.shots, seed, len(data.domains), data.num_classes))
            train_emb = torch.cat([model.image_embeddings(x) for x in data.train.x[keep].split(512)])
            train_d = data.train.d[keep]
            centroids = torch.stack([train_emb[train_d == k].mean(0) for k in range(len(data.domains))])
            centroid = ((emb @ centroids.T).argmax(1) == data.test.d).float().mean().item() * 100
        out["per_seed"][str(seed)] = {"zero_shot_domain_acc": zero_shot, "centroid_domain_acc": centroid}
    return out


def main() -> None:
    import shlex
    import sys

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="report seeds 0..N-1 (default 3)")
    ap.add_argument("--seed-list", default=None, metavar="S1,S2,...", help="report these seeds instead of --seeds")
    ap.add_argument("--out", default="benchmarks/results/clip_adu")
    ap.add_argument("--forget", action="append", metavar="SPEC", help="forget specs of the main run (default "
                    "domain:any=1, 2, 3)")
    ap.add_argument("--methods", default=None, metavar="M1,M2", help="methods of the main run (default "
                    "domain_baseline,adu)")
    ap.add_argument("--max-combinations", type=int, default=None)
    ap.add_argument("--ablations", action="store_true")
    ap.add_argument("--skip-main", action="store_true", help="run only the ablations (a later run collects all)")
    ap.add_argument("--ablation", action="append", choices=tuple(ABLATIONS), help="run only these ablations")
    ap.add_argument("--tune", action="store_true", help="search ADU's DDL weights on the validation seeds instead")
    ap.add_argument("--validation-seeds", default=str(FIRST_VALIDATION_SEED), metavar="S1,S2,...")
    ap.add_argument("--collect", action="store_true", help="run nothing: --tune: write the study from the finished "
                    "points; else: build each run's results.json from its finished rows (e.g. one process per seed)")
    ap.add_argument("--study", default="study", metavar="NAME", help="--tune: write OUT/validation/NAME.json and "
                    "NAME.md (default study)")
    ap.add_argument("--part", default=None, metavar="I/N", help="--tune: run only every N-th grid point from the I-th")
    ap.add_argument("--separability", action="store_true", help="only measure how separable the pretrained CLIPs' "
                    "domains are (--seed-list; writes OUT/domain_separability.json)")
    ap.add_argument("--cache-dir", default=None)
    args = ap.parse_args()
    out = Path(args.out)
    command = "python benchmarks/clip_adu.py " + shlex.join(sys.argv[1:])
    if args.tune:
        part = None if args.part is None else tuple(int(x) for x in args.part.split("/"))
        text = tune(out, validation_seeds(args.validation_seeds), part, args.cache_dir, command, args.collect,
                    args.study)  # type: ignore[arg-type]
        print(text)
        if part is None:
            atomic_write_text(out / "validation" / f"{args.study}.md", text + "\n")
        return
    seeds = [int(s) for s in args.seed_list.split(",")] if args.seed_list else list(range(args.seeds))
    if args.separability:
        found = {**separability(seeds, args.cache_dir), "command": command}
        atomic_write_json(out / "domain_separability.json", found)
        print(json.dumps(found, indent=1))
        return
    bench = ClipBench(seeds=seeds, max_combinations=args.max_combinations, cache_dir=args.cache_dir,
                      **({"forget": args.forget} if args.forget else {}),
                      **({"methods": args.methods.split(",")} if args.methods else {}))
    run = (lambda b, path, cmd: collect_rows(b, path, cmd)) if args.collect else \
        (lambda b, path, cmd: run_suite("clip", [b], path, cmd))
    text = []
    if not args.skip_main:
        doc = run(bench, out / "main", command)
        text += ["## ADU vs baseline (H, Mem, For in %, mean ± std over seeds)", summarise(doc["runs"]), "", STD_NOTE,
                 "", zero_shot(doc["runs"])]
    if args.ablations or args.ablation:
        for name in args.ablation or ABLATIONS:
            method, params = ABLATIONS[name]
            abl = ClipBench(seeds=seeds, forget=["domain:any=1"], methods=[method], params={method: params},
                            max_combinations=args.max_combinations, cache_dir=args.cache_dir)
            adoc = run(abl, out / name, f"{command} ({name})")
            text += ["", f"## ablation {name}: {json.dumps(params)}", summarise(adoc["runs"], label=f"{name}: ")]
    report = "\n".join(text) + "\n"
    if not args.skip_main:
        atomic_write_text(out / "summary.md", report)
    print(report)


if __name__ == "__main__":
    main()
