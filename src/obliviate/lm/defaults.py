"""The lm benches' defaults, importable without torch (the CLI's help shows them)."""

#: kjv: the books kept besides the forget book by default (short ones, so the tiny bench takes minutes)
KJV_BOOKS = ("jonah", "joel", "nahum", "habakkuk", "zephaniah", "haggai")

DEFAULT_METHODS = ["retrain", "grad_ascent", "grad_diff", "kl", "npo", "npo_gdr", "npo_klr", "simnpo", "task_vector"]
#: the published benchmarks ``bench lm --benchmark`` runs (on --data, or the embedded bios in their layout)
BENCHMARKS = ("tofu", "muse")
