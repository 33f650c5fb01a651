"""Where obliviate caches things (models, decoded images): ``$OBLIVIATE_CACHE``, else
``$XDG_CACHE_HOME/obliviate``, else ``~/.cache/obliviate``."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    root = os.environ.get("OBLIVIATE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "obliviate"
    )
    return Path(root)
