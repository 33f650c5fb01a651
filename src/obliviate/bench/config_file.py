"""``obliviate bench --config FILE``: benches from a YAML or TOML file with the keys of the flags, merged
with the command line (flags win), and the file that reproduces a run (saved in its output).

A file holds one bench (``family: classifier`` and that family's keys), several (``benches: [{family: ...,
...}, ...]``; keys at the top level then apply to every bench, an entry's own keys win) or, with no family,
the quick suite's options. Keys are the flags' names with dashes or underscores (``max-train``,
``max_train``). Each bench's keys are parsed by the family's own argparse parser, the one behind
``obliviate bench <family>``: a key is valid exactly where its flag is, with the flag's types and choices,
and a key of another family is unknown. Run options (--out, --threads, --report-to, ...) belong at the top.

Values: a list for a repeatable flag (``forget: [class:3, random:0.1]``) repeats it; a list for another
flag is joined with commas (``methods: [finetune, scrub]``); a mapping becomes NAME=VALUE items with
dotted nested names (``param: {finetune: {lr: 0.02}}`` is ``--param finetune.lr=0.02``); true/false
switch a flag on or off; null leaves the default.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..families import Bench, Family, get_family, load_all
from .options import RUN_KEYS, BenchOptions, add_bench_commands, add_family_arguments, add_run_options

__all__ = ["BenchArgs", "RunConfig", "read_config_file", "resolve_run"]

#: Run options a saved file leaves out: where this run wrote and how it printed are not part of what it ran.
_NOT_SAVED = ("out", "overwrite", "quiet", "config", "dry_run")
_SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".toml": "toml"}


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors raise :class:`ConfigError` prefixed with where the keys came from."""

    where = ""

    def error(self, message: str):  # type: ignore[override]
        raise ConfigError(f"{self.where}: {message}" if self.where else message)


@dataclass
class BenchArgs:
    """One bench of a run: its family (None: the quick suite) and its options, as the flags would give them."""

    family: str | None
    args: argparse.Namespace


@dataclass
class RunConfig:
    """A resolved ``obliviate bench`` invocation: the run options and the benches to build."""

    suite: str
    run: argparse.Namespace
    requests: list[BenchArgs]
    #: the saved file's format: the --config file's, else yaml when pyyaml is importable, else toml
    format: str

    def benches(self) -> list[Bench]:
        from .run import quick_suite

        found: list[Bench] = []
        for request in self.requests:
            if request.family is None:
                if not isinstance(request.args.seeds, int):
                    raise ConfigError("the quick suite takes --seeds N (a count), not explicit seeds")
                found += quick_suite(request.args.cache_dir, seeds=request.args.seeds)
            else:
                found += get_family(request.family).benches(request.args, BenchOptions.from_args(request.args))
        return found

    def document(self) -> dict[str, Any]:
        """The file that reproduces this run with ``--config`` (every bench key spelled out)."""
        doc = {k: _plain(v) for k, v in sorted(vars(self.run).items())
               if k in RUN_KEYS and k not in _NOT_SAVED and v is not None}
        if self.requests and self.requests[0].family is None:
            return doc | {k: _plain(v) for k, v in vars(self.requests[0].args).items()
                          if k not in RUN_KEYS and k != "family" and v is not None}
        doc["benches"] = [
            {"family": r.family} | {k: _plain(v) for k, v in vars(r.args).items()
                                    if k not in RUN_KEYS and k != "family" and v is not None}
            for r in self.requests
        ]
        return doc

    def saved_file(self) -> tuple[str, str]:
        """(file name, text) of :meth:`document` in :attr:`format`: ``bench.yaml`` or ``bench.toml``."""
        doc = self.document()
        if self.format == "yaml":
            import yaml

            return "bench.yaml", yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
        return "bench.toml", to_toml(doc)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping a YAML (.yaml/.yml) or TOML (.toml) file holds."""
    path = Path(path)
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"--config {path}: name a .yaml, .yml or .toml file")
    if not path.is_file():
        raise ConfigError(f"--config {path}: no such file")
    text = path.read_text(encoding="utf-8")
    if kind == "yaml":
        try:
            import yaml
        except ImportError:
            raise ConfigError(f"--config {path}: reading YAML needs pyyaml (pip install pyyaml); "
                              "or write the file as TOML (.toml)") from None
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"--config {path}: not valid YAML: {exc}") from None
    else:
        try:
            import tomllib
        except ImportError:  # Python 3.10
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ImportError:
                raise ConfigError(f"--config {path}: reading TOML on Python 3.10 needs tomli (pip install tomli); "
                                  "or write the file as YAML") from None
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"--config {path}: not valid TOML: {exc}") from None
    doc = {} if doc is None else doc
    if not isinstance(doc, dict):
        raise ConfigError(f"--config {path}: expected keys at the top level, got a {type(doc).__name__}")
    return doc


def resolve_run(args: argparse.Namespace) -> RunConfig:
    """The run ``args`` (the parsed ``obliviate bench`` command line) asks for: its --config file's benches
    with the flags given on the command line applied over them (over the defaults when there is no file)."""
    given = _given_on_command_line(args)
    path = getattr(args, "config", None)
    doc = read_config_file(path) if path else {}
    where = f"--config {path}" if path else "command line"
    doc = _normalised(doc, where)
    entries = doc.pop("benches", None)
    top_family = doc.pop("family", None)
    run_top = {k: v for k, v in doc.items() if k in RUN_KEYS}
    shared = {k: v for k, v in doc.items() if k not in RUN_KEYS}
    if "config" in run_top:
        raise ConfigError(f"{where}: a config file cannot name another config file (key 'config')")

    run_parser = _run_parser(where)
    run = argparse.Namespace(**{k: v for k, v in _defaults(run_parser).items() if k in RUN_KEYS})
    vars(run).update(_parse(run_parser, run_top))
    vars(run).update({k: v for k, v in given.items() if k in RUN_KEYS})

    family = given.get("family")
    if entries is not None:
        if top_family is not None:
            raise ConfigError(f"{where}: give either 'family' (one bench) or 'benches' (a list), not both")
        sections = _bench_entries(entries, where, family)
    elif family or top_family:
        sections = [(family or top_family, shared, where, False)]
        shared = {}
    else:
        sections = [(None, shared, where, False)]
        shared = {}

    requests = []
    for name, section, here, entry in sections:
        parser = _family_parser(name, here) if name else _run_parser(here, quick=True)
        values = _defaults(parser) | _parse(parser, {**shared, **section}, hide=RUN_KEYS if entry else ())
        values |= {k: v for k, v in given.items() if k in _options(parser)}
        missing = [a for a in parser._actions if getattr(a, "needed", False) and values.get(a.dest) is None]
        if missing:
            raise ConfigError(f"obliviate bench {name} needs {', '.join(a.option_strings[-1] for a in missing)} "
                              f"(on the command line, or as {', '.join(repr(a.dest) for a in missing)} in a --config file)")
        requests.append(BenchArgs(name, argparse.Namespace(**{k: v for k, v in values.items() if k not in RUN_KEYS},
                                                           family=name)))
    families = {r.family for r in requests}
    suite = "quick" if families == {None} else next(iter(families)) if len(families) == 1 else "config"
    fmt = _SUFFIXES[Path(path).suffix.lower()] if path else ("yaml" if _has_yaml() else "toml")
    return RunConfig(str(suite), run, requests, fmt)


def to_toml(doc: Mapping[str, Any]) -> str:
    """``doc`` (scalars and lists at the top, ``benches`` a list of such tables) as TOML."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in doc.items() if k != "benches"]
    for bench in doc.get("benches", []):
        lines += ["", "[[benches]]", *(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in bench.items())]
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a TOML basic string


def _has_yaml() -> bool:
    try:
        import yaml  # noqa: F401
    except ImportError:
        return False
    return True


def _plain(value: Any) -> Any:
    """A value a YAML or TOML file holds as it is (other objects as their text)."""
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def _normalised(section: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``section`` with dashes in its keys read as underscores (a key given both ways is an error)."""
    out: dict[str, Any] = {}
    for raw, value in section.items():
        key = str(raw).replace("-", "_")
        if key in out:
            raise ConfigError(f"{where}: key {raw!r} is given twice (dashes and underscores name the same key)")
        out[key] = value
    return out


def _bench_entries(entries: Any, where: str, family: str | None) -> list[tuple[str, dict[str, Any], str, bool]]:
    """(family, keys, where) of each ``benches`` entry; only those of ``family`` when the command line names one."""
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{where}: 'benches' must be a non-empty list of benches ({{family: ..., ...}})")
    found = []
    for i, entry in enumerate(entries):
        here = f"{where}: benches[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{here}: expected keys (family: ..., ...), got {entry!r}")
        entry = _normalised(entry, here)
        name = entry.pop("family", None)
        known = load_all().names()
        if name not in known:
            raise ConfigError(f"{here}: 'family' must be one of {', '.join(known)}, got {name!r}")
        misplaced = sorted(set(entry) & set(RUN_KEYS))
        if misplaced:
            raise ConfigError(f"{here}: {', '.join(misplaced)} belong(s) to the whole run: set it at the top level")
        if family is None or name == family:
            found.append((name, entry, f"{here} ({name})", True))
    if not found:
        raise ConfigError(f"{where}: no bench of family {family!r} among its benches; drop FAMILY from the command "
                          "line to run them all")
    return found


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """dest -> action of every option of ``parser`` a config file may set."""
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest not in ("help", "config")}


def _defaults(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """What ``parser`` gives when no option is set (call before :func:`_parse`, which suppresses them)."""
    return {k: v for k, v in vars(parser.parse_args([])).items() if k in _options(parser)}


def _parse(parser: _Parser, section: Mapping[str, Any], hide: Iterable[str] = ()) -> dict[str, Any]:
    """The options ``section`` sets, read by ``parser`` from the flags they stand for (``hide``: options
    that are not keys here, e.g. the run options in a ``benches`` entry)."""
    known = {k: v for k, v in _options(parser).items() if k not in set(hide)}
    argv: list[str] = []
    for key, value in section.items():
        if key not in known:
            raise ConfigError(f"{parser.where}: unknown key {key!r}; known keys: {', '.join(sorted(known))}")
        if value is not None:
            argv += _tokens(known[key], key, value, parser.where)
    return vars(_suppressed(parser).parse_args(argv))


def _tokens(action: argparse.Action, key: str, value: Any, where: str) -> list[str]:
    flag = next(o for o in action.option_strings if o.startswith("--"))
    if action.nargs == 0:  # a switch
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} takes true or false, got {value!r}")
        return [flag] if value == action.const else []
    items = _items(value, key, where)
    if isinstance(action, argparse._AppendAction):
        return [token for item in items for token in (flag, item)]
    single = isinstance(value, (list, tuple)) and len(items) == 1  # a one-item list stays a list (seeds: [10])
    return [flag, ",".join(items) + ("," if single else "")]


def _items(value: Any, key: str, where: str, prefix: str = "") -> list[str]:
    """A value as flag arguments: lists item by item, mappings as (dotted) NAME=VALUE."""
    if isinstance(value, Mapping):
        out = []
        for name, inner in value.items():
            if isinstance(inner, Mapping):
                out += _items(inner, key, where, f"{prefix}{name}.")
            else:
                out.append(f"{prefix}{name}={_text(inner, key, where)}")
        return out
    if isinstance(value, (list, tuple)):
        return [item for v in value for item in _items(v, key, where, prefix)]
    return [_text(value, key, where)]


def _text(value: Any, key: str, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple, Mapping)) or value is None:
        raise ConfigError(f"{where}: {key}: cannot read {value!r} as a flag value")
    return str(value)


def _suppressed(parser: _Parser) -> _Parser:
    """``parser`` with every default SUPPRESSed (sub-parsers too): parsing yields only what was given."""
    for action in parser._actions:
        action.default = argparse.SUPPRESS
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _suppressed(sub)
    return parser


def _family_parser(name: str, where: str) -> _Parser:
    family: Family = get_family(name)
    parser = _Parser(prog=f"obliviate bench {name}", add_help=False)
    parser.where = where
    add_family_arguments(parser, family)
    return parser


def _run_parser(where: str, *, quick: bool = False) -> _Parser:
    """The run options' parser (``quick``: as the quick suite's bench, named so in errors)."""
    parser = _Parser(prog="obliviate bench", add_help=False)
    parser.where = f"{where} (the quick suite: no family)" if quick else where
    add_run_options(parser)
    return parser


def _given_on_command_line(args: argparse.Namespace) -> dict[str, Any]:
    """The options the command line set itself (not their defaults), and the family it named."""
    argv: Iterable[str] | None = getattr(args, "argv", None)
    if argv is None:  # not from obliviate.cli.main: take every value as given
        return {k: v for k, v in vars(args).items() if k not in ("command", "argv")}
    argv = list(argv)
    tokens = argv[argv.index("bench") + 1:] if "bench" in argv else []
    parser = _Parser(prog="obliviate bench", add_help=False)
    parser.where = "command line"
    add_bench_commands(parser, load_all().values())
    return vars(_suppressed(parser).parse_args(tokens))
