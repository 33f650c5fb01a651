"""Moved to :mod:`obliviate.report`; this re-export keeps cli.py and bench/run.py working until merge."""

from ..report import format_table_text, summarize, write_report  # noqa: F401
