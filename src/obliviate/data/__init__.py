"""Datasets the project builds or reads from packages installed on the machine."""

from .images import ImageDataset, ImageSplits, load_image_dataset, IMAGE_DATASETS

__all__ = ["ImageDataset", "ImageSplits", "load_image_dataset", "IMAGE_DATASETS"]
