"""Datasets the project builds or reads from packages installed on the machine, and the standard
vision datasets (CIFAR, SVHN, Tiny-ImageNet, parquet, image folders) read from a user's local files."""

from .images import ImageDataset, ImageSplits, Normalization, load_image_dataset, IMAGE_DATASETS
from . import cifar, folders, parquet, svhn  # noqa: F401  (each registers its datasets)
from .augment import RandomCropFlip
from .folders import DomainImages, load_image_folder, read_domain_folder

__all__ = [
    "ImageDataset", "ImageSplits", "Normalization", "load_image_dataset", "IMAGE_DATASETS",
    "RandomCropFlip", "DomainImages", "load_image_folder", "read_domain_folder",
]
