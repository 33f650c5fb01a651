"""The ``obliviate`` command line: bench, train, unlearn, eval, report, ls, env, cache, tune."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from .version import __version__
from .errors import ConfigError, ObliviateError

from .bench.options import kv as _kv
from .tune.command import add_tune_parser, cmd_tune


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars or summaries")


def _add_overwrite(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--overwrite", action="store_true",
                   help=f"replace an existing --out that `obliviate {what}` did not write (default: refuse; its own "
                   "outputs are reused); never the filesystem root, your home directory, the current directory "
                   "or an input of the run")


def _add_threads(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="torch intra-op threads (default: $OBLIVIATE_THREADS, $OMP_NUM_THREADS, else chosen from "
                   "the CPUs this process may use and the model's size; recorded in results/record.json)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="obliviate",
        description="Machine unlearning: remove chosen training data from a trained model and measure how well it worked.",
    )
    parser.add_argument("--version", action="version", version=f"obliviate {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    _add_bench_parser(sub)
    add_tune_parser(sub)

    t = sub.add_parser("train", help="train an original classifier on a dataset and save it (safetensors)")
    t.add_argument("--dataset", default="digits")
    t.add_argument("--model", default=None, help="architecture (cnn, resnet18, vgg16_bn; default: the recipe's, else cnn)")
    t.add_argument("--model-factory", default=None, metavar="MODULE:FUNCTION",
                   help="build your own model: FUNCTION(in_channels, num_classes, image_size) -> Classifier (docs/recipes.md)")
    t.add_argument("--recipe", default=None, metavar="FILE", help="recipe file (TOML; docs/recipes.md): its [train] and model")
    t.add_argument("--train", action="append", metavar="NAME=VALUE", help="override the recipe, repeatable")
    t.add_argument("--data-dir", default=None)
    t.add_argument("--max-train", type=int, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", required=True, help="model directory to write")
    _add_overwrite(t, "train")
    _add_common(t)
    _add_threads(t)

    u = sub.add_parser("unlearn", help="unlearn a forget set from a saved model",
                       description="Load a model directory, run one method, save the unlearned model and a record.json. "
                       "--family lm: a Hugging Face causal LM directory (with its tokenizer) and forget / retain "
                       "documents from text files.")
    u.add_argument("--family", choices=("classifier", "lm", "clip"), default="classifier",
                   help="model family (default classifier)")
    u.add_argument("--model", required=True,
                   help="model directory (classifier: model.safetensors + config.json; lm: a Hugging Face causal LM "
                   "with its tokenizer)")
    u.add_argument("--dataset", default="digits", help="classifier: the dataset the model was trained on")
    u.add_argument("--forget", required=True, metavar="SPEC|FILE",
                   help="classifier: random:0.1, random:500, class:3, indices:FILE; lm: text file of documents to forget")
    u.add_argument("--retain", default=None, metavar="FILE", help="lm: text file of documents to keep (required for lm)")
    u.add_argument("--documents", choices=("paragraphs", "lines"), default="paragraphs",
                   help="lm: how the text files hold documents: paragraphs (separated by blank lines; default) or "
                   "lines (one per line)")
    u.add_argument("--lora", default=None, metavar="SPEC",
                   help="lm: train LoRA adapters only, e.g. r=8,alpha=16,targets=q_proj,v_proj[,dropout=0.05]")
    u.add_argument("--save-adapter", action="store_true", help="lm with --lora: save only the adapter (default: merged weights)")
    u.add_argument("--dtype", choices=("auto", "float32", "bfloat16", "float16"), default="auto",
                   help="lm: weight dtype (default auto: as saved)")
    u.add_argument("--device", default=None, help="lm: torch device (default: cuda when present, else cpu)")
    u.add_argument("--max-length", type=int, default=512, help="lm: tokens per document (longer ones are truncated)")
    u.add_argument("--method", required=True, help="method name (see `obliviate ls methods`; lm also npo_gdr, npo_klr)")
    u.add_argument("--param", action="append", metavar="NAME=VALUE", help="method parameter, repeatable")
    u.add_argument("--recipe", default=None, metavar="FILE",
                   help="recipe file (TOML; docs/recipes.md): the method's settings (classifier retrain: [train]) "
                   "under --param; its provenance goes into record.json")
    u.add_argument("--data-dir", default=None)
    u.add_argument("--max-train", type=int, default=None)
    u.add_argument("--seed", type=int, default=0, help="seed for the forget selection and the method")
    u.add_argument("--prune", default=None, metavar="SPEC", help="prune first, then unlearn (Jia et al. 2023): omp:SPARSITY or imp:SPARSITY[,retrain=E,rewind=K,scope=conv|body|all], e.g. omp:0.95")
    u.add_argument("--eval", action="store_true", help="also evaluate before/after and store it in the record")
    u.add_argument("--reference", default=None, metavar="DIR",
                   help="a model retrained without the forget set (same family): its metrics and the gaps to it "
                   "go into the record (implies --eval)")
    u.add_argument("--checkpoint-every", type=int, default=None, metavar="STEPS",
                   help="save a training checkpoint every STEPS optimiser steps into OUT.checkpoints; rerunning the "
                   "same command after a crash or kill resumes from it (default: no checkpoints)")
    u.add_argument("--out", required=True, help="directory for the unlearned model")
    _add_overwrite(u, "unlearn")
    _add_common(u)
    _add_threads(u)

    e = sub.add_parser("eval", help="evaluate a saved model on a task (a metrics table; --json for JSON)")
    e.add_argument("--model", required=True)
    e.add_argument("--dataset", default="digits")
    e.add_argument("--forget", required=True, metavar="SPEC")
    e.add_argument("--reference", default=None, help="retrained model directory: adds gaps to retrain")
    e.add_argument("--data-dir", default=None)
    e.add_argument("--max-train", type=int, default=None)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true", help="print the metrics (and gaps) as JSON")
    _add_common(e)

    r = sub.add_parser("report", help="re-render report.html and plots from a results.json")
    r.add_argument("results", help="path to results.json")
    r.add_argument("--out", default=None, help="output directory (default: beside results.json)")
    _add_overwrite(r, "report")
    _add_common(r)

    ls = sub.add_parser("ls", help="list registered methods, datasets or models")
    ls.add_argument("what", choices=("methods", "datasets", "models"))
    ls.add_argument("--verbose", "-v", action="store_true", help="show every method parameter with its default")

    sub.add_parser("env", help="print the environment obliviate sees (versions, device)")

    w = sub.add_parser("worst-case", help="search a worst-case forget set (Fan et al. 2024) and write it as indices:FILE",
                       description="Bi-level search for the training samples hardest to forget with a weighted "
                       "unlearner; writes their indices (one per line, '#' header) for --forget indices:FILE.")
    w.add_argument("--dataset", default="digits")
    w.add_argument("--size", default=None, help="forget-set size: a count (500) or a fraction of the training set (0.1)")
    w.add_argument("--classes", type=int, default=None, help="class-wise variant: choose the K worst classes instead")
    w.add_argument("--method", default="finetune",
                   help="lower-level weighted unlearner: finetune, random_label, l1_sparse, scrub, retrain (default finetune)")
    w.add_argument("--mode", choices=("hardest", "easiest"), default="hardest", help="easiest flips the objective")
    w.add_argument("--model", default=None, help="original model directory (default: the recipe's cached original for --seed)")
    w.add_argument("--param", action="append", metavar="NAME=VALUE",
                   help="search setting, repeatable: outer_steps, epochs, lr, batch_size, w_lr, gamma, normalize")
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--data-dir", default=None)
    w.add_argument("--max-train", type=int, default=None)
    w.add_argument("--cache-dir", default=None, help="model cache (default $OBLIVIATE_CACHE or ~/.cache/obliviate)")
    w.add_argument("--out", required=True, help="indices file to write")
    _add_overwrite(w, "worst-case")
    _add_common(w)
    _add_threads(w)
    _add_cache_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .plugins import load_plugins

    try:
        load_plugins()  # before the parser: plugins may register families, methods, datasets
    except ObliviateError as exc:
        print(f"obliviate: error: {exc}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # what was typed (obliviate bench --config merges it)
    if args.command is None:
        parser.print_help()
        return 0
    from .utils.console import grouped_warnings
    from .utils.progress import set_quiet
    from .utils.threads import set_cli_override

    set_quiet(getattr(args, "quiet", False))
    try:
        set_cli_override(getattr(args, "threads", None))
        with grouped_warnings():  # each kind of warning once, with a count; library deprecations to the log
            return int(_COMMANDS[args.command](args) or 0)
    except ObliviateError as exc:
        print(f"obliviate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"obliviate: interrupted{_after_interrupt(args)}", file=sys.stderr)
        return 130


def _after_interrupt(args: argparse.Namespace) -> str:
    """What survives a Ctrl-C of ``args.command``, and how to go on."""
    if args.command == "bench":
        return "; finished rows are kept; rerun the same command to resume"
    if args.command == "tune":
        return "; finished trials are kept in the study; rerun the same command to resume"
    if getattr(args, "checkpoint_every", None):
        return "; rerun the same command to resume from its last checkpoint"
    if args.command in ("train", "unlearn", "worst-case"):
        return "; nothing was saved (outputs appear only once complete)"
    return ""


def _say(args: argparse.Namespace, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text)


def _add_bench_parser(sub: Any) -> None:
    """``obliviate bench`` (the quick suite) and one ``obliviate bench <name>`` per registered family adapter,
    whose options come from the adapter: a flag of another family is an argparse error."""
    from .bench.options import add_bench_commands
    from .families import load_all

    b = sub.add_parser("bench", help="run a benchmark grid (no family: the quick embedded default suite)",
                       description="Train the original model and the exact-retrain reference per seed (cached), run every "
                       "method, write results.json and report.html. With no family, runs the quick default suite of "
                       "every family; `obliviate bench FAMILY --help` shows a family's options.")
    add_bench_commands(b, load_all().values())


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench.config_file import resolve_run
    from .bench.dry_run import dry_run_text
    from .bench.report_to import report_rows
    from .bench.run import default_out_dir, run_suite
    from .report import format_table_text, summary_text
    from .utils.progress import set_quiet
    from .utils.threads import set_cli_override

    run = resolve_run(args)  # the --config file's benches with the command line's flags over them
    vars(args).update(vars(run.run))
    set_quiet(args.quiet)
    set_cli_override(args.threads)
    command = "obliviate " + " ".join(shlex.quote(a) for a in args.argv)
    suite, benches = run.suite, run.benches()
    out = Path(args.out) if args.out else default_out_dir(suite, benches)  # the same command resumes
    if args.dry_run:
        print(dry_run_text(benches, out), end="")
        return 0
    with report_rows(args.report_to, out, suite):
        doc = run_suite(suite, benches, out, command, overwrite=args.overwrite, files=dict([run.saved_file()]),
                        allow_tuned_seeds=bool(args.allow_tuned_seeds))
    _say(args, format_table_text(doc))
    _say(args, summary_text(doc))
    _say(args, f"\nresults: {out / 'results.json'}\nreport:  {out / 'report.html'}")
    return 0


def _load_splits(args: argparse.Namespace):
    from .data import load_image_dataset

    return load_image_dataset(args.dataset, data_dir=args.data_dir, max_train=args.max_train)


def cmd_train(args: argparse.Namespace) -> int:
    from .classifier.recipes import recipe_for
    from .methods.classifier.retrain import RetrainConfig, train_classifier
    from .models import build_classifier, save_classifier
    from .utils.io import atomic_dir
    from .utils.outputs import check_output, mark
    from .utils.seeding import seed_everything
    from .utils.threads import configure_for_model

    from .classifier.recipe_files import load_recipe
    from .models.factory import use_model_factory

    check_output(args.out, "train", inputs=[args.data_dir, args.recipe], overwrite=args.overwrite)
    file = load_recipe(args.recipe) if args.recipe else None
    recipe = recipe_for(args.dataset)
    config = RetrainConfig.from_params({**recipe.train, **(file.train if file else {}), **_kv(args.train, "--train")})
    arch = use_model_factory(args.model_factory) if args.model_factory else None
    if arch and args.model:
        raise ConfigError("give --model or --model-factory, not both")
    splits = _load_splits(args)
    seed_everything(args.seed)
    c, h, _ = splits.image_shape
    arch = arch or args.model or (file.model if file else None) or recipe.model
    model = build_classifier(arch, in_channels=c, num_classes=splits.num_classes,
                             **({"image_size": h} if args.model_factory else {}))
    configure_for_model(model, scope="train")
    train_classifier(model, splits.train, config, seed=args.seed, desc="train")
    with atomic_dir(args.out) as tmp:  # the model and its marker appear together
        save_classifier(model, tmp, extra={"trained_on": args.dataset, "seed": args.seed, "train": config.as_dict()})
        mark(tmp, "train")
    if not args.quiet:
        _say(args, _accuracy_line(model, splits))
    _say(args, f"saved {args.out}")
    return 0


def _accuracy_line(model: Any, splits: Any) -> str:
    """``train accuracy 99.10%  test accuracy 97.30%`` of a trained classifier."""
    from .metrics.accuracy import accuracy
    from .training.predict import predict_probs

    return "  ".join(f"{name} accuracy {accuracy(predict_probs(model, ds.x, desc=f'eval {name}'), ds.y.numpy()):.2f}%"
                     for name, ds in (("train", splits.train), ("test", splits.test)))


def _only_for(family: str, given: dict[str, Any], hint: str) -> None:
    """Raise when any flag of ``given`` (flag -> value, truthy when the user set it) was set outside ``family``."""
    flags = [flag for flag, value in given.items() if value]
    if flags:
        verb = "applies" if len(flags) == 1 else "apply"
        raise ConfigError(f"{', '.join(flags)} {verb} to the {family} family only; {hint}")


def cmd_unlearn(args: argparse.Namespace) -> int:
    if args.family == "lm":
        return _unlearn_lm(args)
    if args.family == "clip":
        raise ConfigError("unlearning a domain from a CLIP model runs in the bench for now: "
                          "obliviate bench clip --model DIR --forget domain:sketch")
    _only_for("lm", {"--retain": args.retain, "--documents": args.documents != "paragraphs", "--lora": args.lora,
                     "--save-adapter": args.save_adapter, "--dtype": args.dtype != "auto", "--device": args.device,
                     "--max-length": args.max_length != 512}, "add --family lm to unlearn a causal LM")
    from .api import unlearn_from_dirs
    from .training import distributed

    if distributed.num_processes() > 1:
        raise ConfigError("classifier unlearning runs in one process (the models are small); launch it without "
                          "accelerate launch / torchrun, or use --family lm for a distributed run")
    params, recipe_record = _unlearn_params(args), None
    if args.recipe:
        from .classifier.recipe_files import load_recipe

        file = load_recipe(args.recipe)
        base = {**file.train, **file.method_params(args.method)} if args.method == "retrain" else file.method_params(args.method)
        params = {**base, **params}
        recipe_record = {"path": file.path, "sha256": file.sha256, "name": file.name,
                         "provenance": file.provenance_of(args.method)}
    record = unlearn_from_dirs(
        model_dir=args.model, dataset=args.dataset, forget=args.forget, method=args.method,
        params=params, seed=args.seed, out=args.out, evaluate=args.eval, recipe=recipe_record,
        data_dir=args.data_dir, max_train=args.max_train, prune=args.prune, checkpoint_every=args.checkpoint_every,
        reference=args.reference, overwrite=args.overwrite,
    )
    _say_record(args, record, "classifier")
    return 0


def _say_record(args: argparse.Namespace, record: dict[str, Any], family: str) -> None:
    """What ``unlearn`` did: method and time, then (with --eval) before / after / retrain side by side."""
    from .metrics.table import metric_table

    where = f" on {record['device']}" if record.get("device") else ""
    saved = f" ({record['saved']} weights)" if record.get("saved") else ""
    _say(args, f"{record['method']}: {record['seconds']:.1f} s{where}")
    if "metrics" in record:
        _say(args, metric_table({"before": record.get("metrics_before"), "after": record["metrics"],
                                 "retrain": record.get("metrics_retrain"),
                                 "|after - retrain|": record.get("gap_to_retrain")}, family))
    _say(args, f"saved {args.out}{saved}")


#: names that are options of the unlearning call itself, not of a method: --param NAME=... would collide
_RESERVED_PARAMS = {"seed": "--seed", "max_length": "--max-length", "lora": "--lora", "inplace": None}


def _unlearn_params(args: argparse.Namespace) -> dict[str, Any]:
    params = _kv(args.param, "--param")
    for name in sorted(set(params) & set(_RESERVED_PARAMS)):
        flag = _RESERVED_PARAMS[name]
        raise ConfigError(f"--param {name}=... is not a method parameter" + (f"; use {flag}" if flag else ""))
    return params


def _unlearn_lm(args: argparse.Namespace) -> int:
    from .lm.unlearn import unlearn_lm_from_dirs

    _only_for("classifier", {"--dataset": args.dataset != "digits", "--data-dir": args.data_dir,
                             "--max-train": args.max_train, "--prune": args.prune},
              "an lm's forget and retain sets are the --forget and --retain text files")
    if not args.retain:
        raise ConfigError("--family lm needs --retain FILE (documents to keep; the methods' retain terms train on them)")
    params, recipe = _unlearn_params(args), None
    if args.recipe:  # an lm recipe's [methods.METHOD] under --param (any lm bench's file)
        from .bench.recipe_files import check_recipe_for, load_recipe

        file = load_recipe(args.recipe)
        check_recipe_for(file, "lm", None)
        params = {**file.method_params(args.method), **params}
        recipe = {"path": file.path, "sha256": file.sha256, "name": file.name,
                  "provenance": file.provenance_of(args.method)}
    record = unlearn_lm_from_dirs(
        model_dir=args.model, forget_file=args.forget, retain_file=args.retain, method=args.method, out=args.out,
        params=params, recipe=recipe, seed=args.seed, layout=args.documents, lora=args.lora,
        adapter_only=args.save_adapter, dtype=args.dtype, device=args.device, max_length=args.max_length,
        checkpoint_every=args.checkpoint_every, evaluate=args.eval, reference=args.reference, overwrite=args.overwrite,
    )
    _say_record(args, record, "lm")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .metrics.classifier import evaluate_classifier
    from .models import load_classifier
    from .tasks import Task

    splits = _load_splits(args)
    task = Task.build(splits, args.forget, args.seed)
    reference = None
    if args.reference:
        reference = evaluate_classifier(load_classifier(args.reference), task)["metrics"]
    result = evaluate_classifier(load_classifier(args.model), task, reference=reference)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        from .metrics.table import metric_table

        print(metric_table({"model": result["metrics"], "retrain": reference,
                            "|model - retrain|": result.get("gap_to_retrain")}, "classifier"))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report
    from .bench.results import validate_results

    path = Path(args.results)
    if not path.is_file():
        raise ObliviateError(f"{path} does not exist")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ObliviateError(f"{path} is not valid JSON: {exc}") from None
    import jsonschema

    try:
        validate_results(doc)
    except jsonschema.ValidationError as exc:
        raise ObliviateError(f"{path} does not follow the results schema: {exc.message}") from None
    report = write_report(doc, _report_dir(path, args.out, args.overwrite))
    _say(args, f"report: {report}")
    return 0


def _report_dir(results: Path, out: str | None, overwrite: bool) -> Path:
    """Where ``report`` writes: beside ``results`` (re-rendering a bench's report in place), or a checked
    ``--out`` (:mod:`obliviate.utils.outputs`), created and marked."""
    from .utils.outputs import check_not_protected, check_output, prepare_dir

    here = results.resolve().parent
    if out is None or Path(out).resolve() == here:
        return check_not_protected(here, "--out" if out else "the results' directory")
    return prepare_dir(check_output(out, "report", inputs=[results], overwrite=overwrite))


def cmd_ls(args: argparse.Namespace) -> int:
    if args.what == "methods":
        from .methods import METHODS, load_all

        load_all()
        for m in METHODS.classes():  # grouped by family
            flags = "" if m.uses_labels else "  [label-free]"
            print(f"{m.name:<18} {m.family:<11} {m.summary}{flags}\n{'':<30}paper: {m.paper}")
            if args.verbose:
                for pname, ptype, default, help_text in m.Config.describe():
                    print(f"{'':<30}{pname} ({ptype}, default {default!r}): {help_text}")
    else:
        from .families import load_all

        for family in load_all().values():
            for name, doc in (family.datasets() if args.what == "datasets" else family.models()):
                print(f"{name:<16} {family.name:<11} {doc}")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    from .utils.env import environment, git_commit

    print(json.dumps({"obliviate": __version__, "git_commit": git_commit(), **environment()}, indent=2))
    return 0


def cmd_worst_case(args: argparse.Namespace) -> int:
    from .classifier.bench import ClassifierBench
    from .classifier.worst_case_file import worst_case_file

    if (args.size is None) == (args.classes is None):
        raise ConfigError("give exactly one of --size N (a sample set) or --classes K (the K worst classes)")
    bench = ClassifierBench(dataset=args.dataset, methods=[], seeds=[args.seed], data_dir=args.data_dir,
                            max_train=args.max_train, cache_dir=args.cache_dir,
                            params={"worst_case": _kv(args.param, "--param")})
    result = worst_case_file(bench, args.size, args.out, lower=args.method, mode=args.mode, classes=args.classes,
                             seed=args.seed, model_dir=args.model, overwrite=args.overwrite)
    chosen = f"classes {list(result.classes)}, " if result.classes is not None else ""
    _say(args, f"{args.mode} set: {chosen}{len(result.indices)} samples, search {result.seconds:.1f} s -> {args.out}\n"
               f"use it with --forget indices:{args.out}")
    return 0


def _add_cache_parser(sub: Any) -> None:
    c = sub.add_parser("cache", help="list, verify or clear the model cache",
                       description="ls: entries (kind, key, size, created, verified); verify: rehash every entry "
                       "(exit 1 when one is bad); clear: remove entries (all, named, --kind, --quarantine) with --yes.")
    c.add_argument("action", choices=("ls", "verify", "clear"))
    c.add_argument("entries", nargs="*", metavar="ENTRY", help="clear: entry names or hashes (from cache ls)")
    c.add_argument("--kind", default=None, help="clear: every entry of this kind (original, retrain, lm-original, ...)")
    c.add_argument("--quarantine", action="store_true", help="clear: the entries moved aside after failing verification")
    c.add_argument("--yes", action="store_true", help="clear: remove without asking (otherwise nothing is removed)")
    c.add_argument("--cache-dir", default=None, help="model cache (default $OBLIVIATE_CACHE or ~/.cache/obliviate)")


def cmd_cache(args: argparse.Namespace) -> int:
    from .bench.cache_cli import cache_command

    if args.action != "clear" and (args.entries or args.kind or args.quarantine or args.yes):
        raise ConfigError("ENTRY, --kind, --quarantine and --yes apply to obliviate cache clear only")
    return cache_command(args.action, args.cache_dir, targets=args.entries, kind=args.kind,
                         quarantined=args.quarantine, yes=args.yes)


_COMMANDS: dict[str, Any] = {
    "bench": cmd_bench, "train": cmd_train, "unlearn": cmd_unlearn, "eval": cmd_eval,
    "report": cmd_report, "ls": cmd_ls, "env": cmd_env, "worst-case": cmd_worst_case,
    "cache": cmd_cache, "tune": cmd_tune,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
