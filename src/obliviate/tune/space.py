"""The search space of ``obliviate tune``: one :class:`Dimension` per tuned method parameter.

``--space NAME=LOW:HIGH[:log]`` gives a dimension; an integer parameter is searched over integers. With no
``--space`` the default space comes from the method's effective defaults (the config's defaults with the
dataset recipe's over them): ``lr`` log-uniform on [default/10, default*10] and ``epochs`` an integer in
[1, 2*default], whichever the method has; every other parameter stays at its default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class Dimension:
    """One tuned parameter: ``low``..``high`` (inclusive), integers when ``integer``, log scale when ``log``."""

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False

    def suggest(self, trial: Any) -> int | float:
        """The trial's value (an ``optuna.Trial``)."""
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log)
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def describe(self) -> str:
        """``lr=loguniform(0.001, 0.1)``, ``epochs=int(1, 10)``, ``alpha=uniform(0.1, 1.0)``."""
        if self.integer:
            kind = "logint" if self.log else "int"
            return f"{self.name}={kind}({int(self.low)}, {int(self.high)})"
        return f"{self.name}={'loguniform' if self.log else 'uniform'}({self.low:g}, {self.high:g})"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "low": self.low, "high": self.high, "log": self.log, "integer": self.integer}


def tunable(defaults: dict[str, Any]) -> dict[str, bool]:
    """The numeric parameters of a method config's effective ``defaults`` -> whether each is an integer."""
    return {name: isinstance(value, int) for name, value in defaults.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)}


def parse_space(items: list[str], defaults: dict[str, Any], method: str) -> list[Dimension]:
    """The dimensions of ``--space`` items (``NAME=LOW:HIGH[:log]``) for ``method`` with config ``defaults``."""
    known = tunable(defaults)
    dims: dict[str, Dimension] = {}
    for item in items:
        name, sep, rng = (part.strip() for part in item.partition("="))
        if not sep or not name:
            raise ConfigError(f"--space expects NAME=LOW:HIGH[:log], got {item!r}")
        if name not in known:
            raise ConfigError(f"--space {name}: {method} has no numeric parameter {name!r}; known: "
                              f"{', '.join(sorted(known)) or 'none'}")
        if name in dims:
            raise ConfigError(f"--space {name} given twice")
        parts = rng.split(":")
        log = len(parts) == 3 and parts[2].strip().lower() == "log"
        if len(parts) not in (2, 3) or (len(parts) == 3 and not log):
            raise ConfigError(f"--space {item!r}: expected NAME=LOW:HIGH or NAME=LOW:HIGH:log")
        try:
            low, high = float(parts[0]), float(parts[1])
        except ValueError:
            raise ConfigError(f"--space {item!r}: LOW and HIGH must be numbers") from None
        integer = known[name]
        if integer and (low != int(low) or high != int(high)):
            raise ConfigError(f"--space {item!r}: {name} is an integer parameter; give integer bounds")
        if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
            raise ConfigError(f"--space {item!r}: needs finite LOW < HIGH")
        if log and low <= 0:
            raise ConfigError(f"--space {item!r}: a log scale needs LOW > 0")
        dims[name] = Dimension(name, low, high, log, integer)
    return list(dims.values())


def default_space(defaults: dict[str, Any], method: str) -> list[Dimension]:
    """lr log-uniform on [default/10, default*10] and epochs in [1, 2*default], whichever ``method`` has."""
    dims = []
    lr = defaults.get("lr")
    if isinstance(lr, (int, float)) and not isinstance(lr, bool) and lr > 0:
        dims.append(Dimension("lr", lr / 10, lr * 10, log=True))
    epochs = defaults.get("epochs")
    if isinstance(epochs, int) and not isinstance(epochs, bool) and epochs >= 1:
        dims.append(Dimension("epochs", 1, max(2 * epochs, 2), integer=True))
    if not dims:
        raise ConfigError(f"{method} has neither lr nor epochs, so there is no default search space; give --space "
                          f"NAME=LOW:HIGH[:log] for some of: {', '.join(sorted(tunable(defaults))) or 'none'}")
    return dims
