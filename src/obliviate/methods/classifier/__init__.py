"""The classifier family's unlearning methods (one module each; importing one registers it)."""
