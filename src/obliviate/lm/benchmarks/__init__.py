"""Published LM unlearning benchmarks (TOFU, MUSE, WMDP) in their published formats."""
