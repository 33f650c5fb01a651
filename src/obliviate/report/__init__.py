"""Turn a benchmark's ``results.json`` into something people would rather look at than read.

* :func:`summarize` (:mod:`.stats`) - one entry per (family, dataset, forget_spec, method) group of ok
  rows with the mean and sample std (ddof=1, :data:`STD_NOTE`) over seeds of every metric, every
  ``gap_to_retrain`` key, the unlearning seconds and the time ratio ``seconds / retrain_seconds``.
* :func:`format_table_text` (:mod:`.text`) - fixed-width plain-text tables for the terminal.
* :func:`summary_text` (:mod:`.summary`) - the one-page summary across task groups (also report.html's first card).
* :func:`write_report` (:mod:`.page`) - ``out_dir/report.html`` plus PNG plots in ``out_dir/plots/``.

The report never trusts its input to be complete: missing keys, ``None`` values, failed rows with empty
metrics and unknown families all render. Columns and labels come from the metric registry; what a
family adds (its plots, pass/fail tables, whole-results cards) from the section registry
(:mod:`.sections`), filled by the families' own report modules.
"""

from .page import write_report
from .sections import Plot, Section
from .stats import STD_NOTE, sample_std, summarize
from .summary import summary_text
from .text import fmt_pm, format_table_text

__all__ = ["Plot", "STD_NOTE", "Section", "fmt_pm", "format_table_text", "sample_std",
           "summarize", "summary_text", "write_report"]
