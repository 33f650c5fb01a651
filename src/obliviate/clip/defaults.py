"""The clip bench's defaults, importable without torch (the CLI's help shows them)."""

DEFAULT_FORGET = ["domain:any=1", "domain:any=2", "domain:any=3"]
DEFAULT_METHODS = ["domain_baseline", "adu"]
