"""The classifier bench's defaults, importable without torch (the CLI's help shows them)."""

#: the bench's methods unless --methods says otherwise
DEFAULT_METHODS = ("retrain", "finetune", "grad_ascent", "random_label")
#: the quick suite's classifier methods: every classifier method of the seed papers
QUICK_METHODS = ("retrain", "finetune", "grad_ascent", "random_label", "l1_sparse", "influence",
                 "fisher_forgetting", "salun", "scrub", "laf")
