"""The nine seed papers' headline claims, re-measured: one row per claim with the paper's claim, our number
(mean ± sample std over held-out seeds, i.e. seeds no tuning saw) and a verdict, computed here from the
results files under ``benchmarks/results/`` by a rule stated next to each claim.

    python benchmarks/claims.py            # writes benchmarks/results/claims/claims.json
    python benchmarks/claims.py --check    # exit 1 when the file differs from what the results give

``docs/benchmarks.md`` renders the file (``benchmarks/docs_tables.py``, kind ``claims``). Verdicts:
*reproduced* (the claim's direction and size hold), *partly* (the direction holds, the size or one of
several parts does not), *not* (the direction does not hold), each with the measured reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obliviate.lm.report import muse_verdicts
from obliviate.report import fmt_pm, summarize
from obliviate.report.worst_case import worst_case_comparison
from obliviate.utils.io import atomic_write_json

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
OUT = RESULTS / "claims" / "claims.json"


@dataclass(frozen=True)
class Finding:
    """What one claim's results show."""

    number: str
    verdict: str  # reproduced | partly | not
    reason: str


@dataclass(frozen=True)
class Claim:
    paper: str
    claim: str
    sources: tuple[str, ...]
    measure: Callable[[list[Any]], Finding]
    #: the measure reads the results files as written (else their summary entries)
    raw: bool = False


# ----- reading results ------------------------------------------------------------------------------

def load(source: str, raw: bool = False) -> Any:
    """``benchmarks/results/<source>`` as written (``raw``) or as its summary entries
    (:func:`obliviate.report.summarize`)."""
    results = json.loads((RESULTS / source).read_text(encoding="utf-8"))
    return results if raw else summarize(results)


def entry(entries: Sequence[dict], method: str, spec: str | None = None) -> dict:
    found = [e for e in entries if e["method"] == method and (spec is None or e["forget_spec"].startswith(spec))]
    if len(found) != 1:
        raise KeyError(f"{len(found)} entries for {method!r} (spec {spec!r})")
    return found[0]


def metric(e: Mapping[str, Any], name: str) -> dict[str, float]:
    return e["metrics"][name]


def gap(e: Mapping[str, Any], name: str = "average") -> dict[str, float]:
    return e["gap_to_retrain"][name]


def seeds(e: Mapping[str, Any]) -> str:
    return ",".join(str(s) for s in e["seeds"])


def pm(stat: Mapping[str, float], digits: int = 1) -> str:
    return fmt_pm(stat, digits)


def verdict(*parts: bool) -> str:
    """reproduced when every part holds, partly when some do, not when none does."""
    return "reproduced" if all(parts) else ("partly" if any(parts) else "not")


# ----- the claims -----------------------------------------------------------------------------------

def _muse(runs: list[list[dict]]) -> Finding:
    """MUSE: no method passes all four per-row criteria; its evidence is the bios bench on held-out seeds."""
    (entries,) = runs
    group = [e for e in entries if e["forget_spec"].startswith("documents")]
    verdicts = muse_verdicts(group)
    passed = {m: sum(bool(v) for v in checks.values()) for m, checks in verdicts.items()}
    best = max(passed.values())
    all_four = [m for m, n in passed.items() if n == len(next(iter(verdicts.values())))]
    numbers = ", ".join(f"{m} {n}/4" for m, n in sorted(passed.items(), key=lambda kv: -kv[1])[:4])
    return Finding(f"most criteria passed: {numbers} (seeds {seeds(group[0])})", "not" if all_four else "reproduced",
                   f"{', '.join(all_four)} pass every criterion" if all_four else
                   f"no method passes all four (best {best}/4)")


def _muse_sustain(runs: list[list[dict]]) -> Finding:
    """MUSE C6: utility (KnowMem retain) degrades over sequential requests: after the last request below after
    the first, for each method of the sequential series."""
    (entries,) = runs
    steps = sorted({e["forget_spec"] for e in entries if e["forget_spec"].startswith("sequential:")},
                   key=lambda spec: int(spec.rsplit("@", 1)[1].split("/")[0]))
    methods = sorted({e["method"] for e in entries if e["method"] not in ("original", "retrain")})
    first = {m: metric(entry(entries, m, steps[0]), "utility") for m in methods}
    last = {m: metric(entry(entries, m, steps[-1]), "utility") for m in methods}
    fell = {m: last[m]["mean"] < first[m]["mean"] for m in methods}
    number = "; ".join(f"{m} {pm(first[m])} → {pm(last[m])}" for m in methods)
    number = f"utility after request 1 → {len(steps)}: {number} (seeds {seeds(entry(entries, methods[0], steps[-1]))})"
    kept = [m for m in methods if not fell[m]]
    return Finding(number, verdict(*fell.values()),
                   "utility fell for every method" if not kept else f"utility did not fall for {', '.join(kept)}")


def _whp(runs: list[list[dict]]) -> Finding:
    """WHP: forgets the target (forget KnowMem / VerbMem fall toward retrain) while utility stays."""
    (entries,) = runs
    orig, whp, ret = (entry(entries, m, "documents") for m in ("original", "whp", "retrain"))
    fell = [metric(whp, k)["mean"] < metric(orig, k)["mean"] for k in ("verbmem_forget", "knowmem_forget")]
    kept = metric(whp, "knowmem_retain")["mean"] >= metric(orig, "knowmem_retain")["mean"] - 5
    number = (f"VerbMem forget {pm(metric(orig, 'verbmem_forget'))} → {pm(metric(whp, 'verbmem_forget'))} "
              f"(retrain {pm(metric(ret, 'verbmem_forget'))}); KnowMem forget {pm(metric(orig, 'knowmem_forget'))} → "
              f"{pm(metric(whp, 'knowmem_forget'))}; KnowMem retain {pm(metric(orig, 'knowmem_retain'))} → "
              f"{pm(metric(whp, 'knowmem_retain'))} (seeds {seeds(whp)})")
    why = [] if all(fell) else ["forget memorisation did not fall on every measure"]
    why += [] if kept else ["retain knowledge fell by more than 5 points"]
    return Finding(number, verdict(all(fell), kept), "; ".join(why) or "forgets and keeps")


def _eco(runs: list[list[dict]]) -> Finding:
    """ECO: forgets the flagged prompts with nearly no side effect on others (retain KnowMem, perplexity)."""
    (entries,) = runs
    orig, eco = entry(entries, "original", "documents"), entry(entries, "eco", "documents")
    fell = metric(eco, "knowmem_forget")["mean"] < metric(orig, "knowmem_forget")["mean"]
    kept = abs(metric(eco, "knowmem_retain")["mean"] - metric(orig, "knowmem_retain")["mean"]) <= 2
    number = (f"KnowMem forget {pm(metric(orig, 'knowmem_forget'))} → {pm(metric(eco, 'knowmem_forget'))}; "
              f"KnowMem retain {pm(metric(orig, 'knowmem_retain'))} → {pm(metric(eco, 'knowmem_retain'))} "
              f"(seeds {seeds(eco)})")
    return Finding(number, verdict(fell, kept), "forgets, retain within 2 points" if fell and kept else
                   ("retain moved by more than 2 points" if fell else "forget KnowMem did not fall"))


def _laf(runs: list[list[dict]]) -> Finding:
    """LAF: without labels, comparable to the supervised methods (within 2 points of the best average gap)."""
    (entries,) = runs
    supervised = [e for e in entries if e["method"] not in ("original", "retrain", "laf")]
    best = min(supervised, key=lambda e: gap(e)["mean"])
    laf = entry(entries, "laf")
    ok = gap(laf)["mean"] <= gap(best)["mean"] + 2
    return Finding(f"average gap LAF {pm(gap(laf), 2)} vs best supervised ({best['method']}) {pm(gap(best), 2)} "
                   f"on {laf['forget_spec']} (seeds {seeds(laf)})", "reproduced" if ok else "not",
                   "within 2 points of the best supervised method" if ok else
                   f"{gap(laf)['mean'] - gap(best)['mean']:.2f} points behind the best supervised method")


def _dp2(runs: list[list[dict]]) -> Finding:
    """DP2Unlearning: gap to retrain no larger than the best approximate method's, at no more than half of
    retrain's cost (the pipeline of the paper: pretrained, DP fine-tuned base, request on retain)."""
    (entries,) = runs
    dp2 = entry(entries, "dp2")
    approximate = [e for e in entries if e["method"] not in ("original", "retrain", "dp2", "dp2_base")]
    best = min(approximate, key=lambda e: gap(e)["mean"])
    closer = gap(dp2)["mean"] <= gap(best)["mean"]
    cheaper = dp2["time_ratio"]["mean"] <= 0.5
    base = entry(entries, "dp2_base")
    number = (f"average gap dp2 {pm(gap(dp2), 2)} vs best approximate ({best['method']}) {pm(gap(best), 2)}; "
              f"time ratio {pm(dp2['time_ratio'], 3)} (seeds {seeds(dp2)}); KnowMem retain dp2 "
              f"{pm(metric(dp2, 'knowmem_retain'))}, DP base {pm(metric(base, 'knowmem_retain'))}, retrain "
              f"{pm(metric(entry(entries, 'retrain'), 'knowmem_retain'))}")
    why = [] if closer else ["an approximate method is closer to retrain"]
    why += [] if cheaper else [f"the request costs {dp2['time_ratio']['mean']:.3f} of a retrain in wall time "
                               "(exactly half in optimiser steps: 20 of 40 epochs)"]
    why += ["the DP base (epsilon 0.5 on 160 texts) learns nothing of bios, so the request is a half-budget retrain "
            "from the pretrained start"]
    return Finding(number, verdict(closer, cheaper), "; ".join(why))


def _adu(runs: list[list[dict]]) -> Finding:
    """ADU: beats the domain baseline in H, and the full method is at least as good as each ablation."""
    main, no_ddl, no_generator = runs
    adu, base = entry(main, "adu"), entry(main, "domain_baseline")
    ablations = {"no disentangling loss": entry(no_ddl, "adu"), "no instance-wise generator": entry(no_generator, "adu")}
    h = {name: metric(e, "h") for name, e in ablations.items()}
    beats_baseline = metric(adu, "h")["mean"] > metric(base, "h")["mean"]
    behind = {name: stat["mean"] - metric(adu, "h")["mean"] for name, stat in h.items()
              if stat["mean"] > metric(adu, "h")["mean"]}
    number = (f"H: ADU {pm(metric(adu, 'h'))}, baseline {pm(metric(base, 'h'))}, "
              + ", ".join(f"{name} {pm(stat)}" for name, stat in h.items()) + f" (seeds {seeds(adu)})")
    reason = "; ".join(f"the ablation with {name} is {d:.1f} H ahead" for name, d in behind.items())
    if behind:
        reason += ("; the tiny CLIPs separate the domains at 100% before unlearning "
                   "(clip_adu_tuned/heldout/domain_separability.json), so the disentangling loss has nothing to do")
    return Finding(number, verdict(beats_baseline, not behind), reason or "full ADU at least as good as each ablation")


def _restor(runs: list[list[dict]]) -> Finding:
    """RESTOR: approximate methods remove the corrupted (false) facts but recover little of the true ones,
    where the exact removal of the corrupting texts recovers them: every method's recovery below half of
    retrain's while removing at least 90% of the false facts."""
    (entries,) = runs
    exact = entry(entries, "retrain")
    methods = [e for e in entries if e["method"] not in ("clean", "corrupted", "retrain")]
    best = max(methods, key=lambda e: metric(e, "recovery")["mean"])
    low = metric(best, "recovery")["mean"] < 0.5 * metric(exact, "recovery")["mean"]
    removed = min(metric(e, "false_removed")["mean"] for e in methods) >= 0.9
    number = (f"recovery: retrain {pm(metric(exact, 'recovery'), 2)}, best method ({best['method']}) "
              f"{pm(metric(best, 'recovery'), 2)}; false facts removed >= "
              f"{min(metric(e, 'false_removed')['mean'] for e in methods):.2f} by every method (seeds {seeds(exact)})")
    why = [] if low else [f"{best['method']} recovers at least half of what retrain recovers"]
    why += [] if removed else ["some method keeps more than 10% of the false facts"]
    return Finding(number, verdict(low, removed), "; ".join(why) or "forgetting without recovering, as RESTOR finds")


def _sparsity(runs: list[list[dict]]) -> Finding:
    """Model Sparsity: l1-sparse unlearning closes at least half of FT's UA gap to retrain (the paper: 77%);
    partly from a fifth (below that the difference is within the seeds' noise here)."""
    (entries,) = runs
    ft, l1 = (gap(entry(entries, m, "random"), "unlearning_accuracy") for m in ("finetune", "l1_sparse"))
    closed = (ft["mean"] - l1["mean"]) / ft["mean"] if ft["mean"] else 0.0
    return Finding(f"UA gap: FT {pm(ft)}, l1-sparse {pm(l1)}: {100 * closed:.0f}% of FT's gap closed "
                   f"(seeds {seeds(entry(entries, 'l1_sparse', 'random'))})",
                   "reproduced" if closed >= 0.5 else ("partly" if closed >= 0.2 else "not"),
                   "at least half closed" if closed >= 0.5 else
                   "at the alpha tuned on validation seed 100 the l1 term barely changes the fine-tuning; "
                   "prune-first was not run")


def _random_forgetting(runs: list[list[dict]]) -> Finding:
    """Approximate unlearning close to exact on random forgetting in the memorising regime (issue 19's target
    from SalUn / Model Sparsity on CIFAR-10: best average gap <= 1.0 point)."""
    (entries,) = runs
    methods = [e for e in entries if e["method"] not in ("original", "retrain") and e["forget_spec"].startswith("random")]
    best = min(methods, key=lambda e: gap(e)["mean"])
    orig = entry(entries, "original", "random")
    ok = gap(best)["mean"] <= 1.0
    return Finding(f"best average gap {best['method']} {pm(gap(best), 2)} (original {pm(gap(orig), 2)}); "
                   f"{', '.join(e['method'] + ' ' + pm(gap(e), 2) for e in methods if e is not best)} "
                   f"(seeds {seeds(best)})", "reproduced" if ok else "not",
                   "within 1 point of retrain" if ok else
                   f"{gap(best)['mean'] - 1.0:.2f} points over the target: RL and SalUn reach retrain's UA and "
                   "MIA-efficacy but lose 2-3 points of retain and test accuracy that a retrain keeps; "
                   "their validation-seed gaps (2.39, 2.55) did not carry over")


def _worst_case(runs: list[list[dict]]) -> Finding:
    """Worst-case forget sets are harder than random ones for FT and for RL (the paper's Fig. on CIFAR-10)."""
    (results,) = runs
    (found,) = [c for c in worst_case_comparison(results) if c["worst_spec"].startswith("worst_case")]
    ft, rl = found["methods"]["finetune"], found["methods"]["random_label"]
    number = (f"average gap worst-case vs random: FT {pm(ft['worst'], 2)} vs {pm(ft['random'], 2)}, RL "
              f"{pm(rl['worst'], 2)} vs {pm(rl['random'], 2)} ({found['forget_size']} images, search target "
              f"{found['target']}, seeds {','.join(map(str, sorted({r['seed'] for r in results['runs']})))})")
    harder = {name: m["verdict"] == "harder" for name, m in (("FT", ft), ("RL", rl))}
    why = ", ".join(f"{name} {'harder' if h else 'easier'}" for name, h in harder.items())
    if not all(harder.values()):
        why += ("; the search picks images a retrain still classifies correctly, so a method that barely moves "
                "the model (FT, and the original itself) scores well on them")
    return Finding(number, verdict(*harder.values()), why)


CLAIMS: list[Claim] = [
    Claim("MUSE (Shi et al. 2024)", "no method passes every criterion",
          ("lm-bios20-heldout/results.json",), _muse),
    Claim("MUSE (Shi et al. 2024)", "sustainability: utility degrades over sequential unlearning requests",
          ("lm-bios20-heldout-sust/results.json",), _muse_sustain),
    Claim("Who's Harry Potter? (Eldan & Russinovich 2023)", "erases the target's recall, keeps utility",
          ("lm-bios20-heldout/results.json",), _whp),
    Claim("ECO prompts (Liu et al. 2024)", "forgets flagged prompts with nearly no side effects",
          ("lm-bios20-heldout/results.json",), _eco),
    Claim("DP2Unlearning (Al Mahmud et al. 2025)", "close to retrain at about half its cost",
          ("dp2-paper/results.json",), _dp2),
    Claim("ADU (Kawamura et al. 2025)", "beats the baseline; each component helps (full >= every ablation)",
          ("clip_adu_tuned/heldout/main/results.json", "clip_adu_tuned/heldout/adu_no_ddl/results.json",
           "clip_adu_tuned/heldout/adu_no_generator/results.json"), _adu),
    Claim("RESTOR (Rezaei et al. 2024)", "methods forget corrupted facts but do not recover the true ones",
          ("restor-heldout/results.json",), _restor),
    Claim("Model Sparsity (Jia et al. 2023)", "l1-sparse unlearning closes most of FT's gap (77% of UA)",
          ("fashion-mnist-memorise/heldout/results.json",), _sparsity),
    Claim("Model Sparsity / SalUn (Jia et al. 2023; Fan et al. 2024)",
          "random forgetting within ~1 point of retrain (memorising regime)",
          ("fashion-mnist-memorise/heldout/results.json",), _random_forgetting),
    Claim("Challenging Forgets (Fan et al. 2024)", "worst-case forget sets are harder than random, for FT and RL",
          ("fashion-mnist-memorise/worst_case/results.json",), _worst_case, raw=True),
    Claim("LAF (Shen et al. 2024)", "label-free, comparable to supervised methods (class-wise)",
          ("laf-digits-heldout/results.json",), _laf),
]


def findings() -> list[dict[str, Any]]:
    rows = []
    for claim in CLAIMS:
        missing = [s for s in claim.sources if not (RESULTS / s).is_file()]
        if missing:
            raise SystemExit(f"claims: {claim.paper}: results file(s) missing: {', '.join(missing)}")
        found = claim.measure([load(s, claim.raw) for s in claim.sources])
        rows.append({"paper": claim.paper, "claim": claim.claim, "number": found.number, "verdict": found.verdict,
                     "reason": found.reason, "sources": [f"benchmarks/results/{s}" for s in claim.sources]})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the written file; write nothing")
    args = parser.parse_args(argv)
    rows = findings()
    if args.check:
        same = OUT.is_file() and json.loads(OUT.read_text(encoding="utf-8")) == {"claims": rows}
        print("claims.json is up to date" if same else f"claims.json differs from the results: rerun {__file__}")
        return 0 if same else 1
    atomic_write_json(OUT, {"claims": rows})
    for row in rows:
        print(f"{row['paper']}: {row['verdict']} — {row['number']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
