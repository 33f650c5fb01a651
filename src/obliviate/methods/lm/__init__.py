"""The lm family's unlearning methods (one module each; importing one registers it)."""
