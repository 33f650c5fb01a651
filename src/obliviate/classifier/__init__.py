"""The image-classifier family."""
