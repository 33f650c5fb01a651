"""Image folders decoded with Pillow.

- Image folder: ``root/<class>/<image>`` (torchvision's ``ImageFolder`` layout); with ``root/train``
  and ``root/test`` both present, those are the splits, otherwise a fixed stratified 80/20 split
  (seed 0, like ``digits``). Images may sit in subfolders of a class folder (Tiny-ImageNet's
  ``train/<wnid>/images/*.JPEG``).
- Domain folder: ``root/<domain>/<class>/<image>``, the layout of Office-Home (Art, Clipart, Product,
  Real_World), PACS and DomainNet; read into (image, class, domain) triples for the CLIP family.

Class and domain names are the sorted folder names (so class ids match ``ImageFolder``'s). Files
with the extensions in :data:`EXTENSIONS` are read; hidden files and folders are skipped. Images
must share one size unless ``size`` resizes every one to ``size`` x ``size`` (bilinear). Every
image is converted to ``mode`` (RGB by default; "L" for grey). Normalisation: the train split's own
per-channel mean and sample std. Decoded pixels are cached (:mod:`obliviate.data.image_cache`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MissingDataError
from .image_cache import cached_decode
from .images import IMAGE_DATASETS, ImageSplits
from .pixels import MODES, channel_stats, check_size, dataset_root, decode_image, make_splits

EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def scan_classes(root: Path) -> dict[str, list[Path]]:
    """``{class name: sorted image paths}`` for ``root/<class>/...``; every class must hold an image."""
    classes = {d.name: _images_in(d) for d in _visible_dirs(root)}
    if not classes:
        raise MissingDataError(f"{root} holds no class folders (expected {root}/<class>/<image>.png|jpg)")
    empty = [name for name, files in classes.items() if not files]
    if empty:
        raise MissingDataError(f"class folder(s) {', '.join(str(root / e) for e in empty)} hold no images "
                               f"({', '.join(sorted(EXTENSIONS))})")
    return classes


def read_images(paths: list[Path], mode: str = "RGB", size: int | None = None) -> np.ndarray:
    """Decode ``paths`` into one uint8 array (N, H, W, C); a file that fails is named in the error."""
    if mode not in MODES:
        raise MissingDataError(f"image mode must be one of {sorted(MODES)}, got {mode!r}")
    images: np.ndarray | None = None
    for i, path in enumerate(paths):
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise MissingDataError(f"cannot read {path}: {exc.strerror or exc}") from None
        array = decode_image(data, str(path), mode, size)
        if images is None:
            images = np.empty((len(paths), *array.shape), dtype=np.uint8)
        check_size(array, images.shape[1:], str(path))
        images[i] = array
    if images is None:
        raise MissingDataError("no images to read")
    return images


def read_images_cached(paths: list[Path], mode: str = "RGB", size: int | None = None) -> np.ndarray:
    """:func:`read_images` through the decoded-image cache (:mod:`obliviate.data.image_cache`)."""
    return cached_decode(paths, mode, size, lambda: read_images(paths, mode, size))


def _labelled(classes: dict[str, list[Path]], names: tuple[str, ...]) -> tuple[list[Path], np.ndarray]:
    index = {n: i for i, n in enumerate(names)}
    paths = [p for name in classes for p in classes[name]]
    labels = np.array([index[name] for name in classes for _ in classes[name]], dtype=np.int64)
    return paths, labels


def load_image_folder(root: str | Path, *, name: str = "image-folder", mode: str = "RGB", size: int | None = None) -> ImageSplits:
    """ImageSplits from ``root/<class>/<image>`` or ``root/{train,test}/<class>/<image>``."""
    root = Path(root)
    if not root.is_dir():
        raise MissingDataError(f"image folder {root} does not exist")
    if (root / "train").is_dir() and (root / "test").is_dir():
        train_classes, test_classes = scan_classes(root / "train"), scan_classes(root / "test")
        unknown = sorted(set(test_classes) - set(train_classes))
        if unknown:
            raise MissingDataError(f"{root / 'test'} has class folder(s) {', '.join(unknown)} that {root / 'train'} lacks")
        names = tuple(train_classes)
        train_paths, ytr = _labelled(train_classes, names)
        test_paths, yte = _labelled(test_classes, names)
    else:
        from sklearn.model_selection import train_test_split

        classes = scan_classes(root)
        names = tuple(classes)
        paths, labels = _labelled(classes, names)
        small = [n for n in names if len(classes[n]) < 2]
        if small:
            raise MissingDataError(f"class folder(s) {', '.join(small)} of {root} hold one image; the 80/20 split "
                                   "needs at least two per class (or give root/train and root/test)")
        tr, te = train_test_split(np.arange(len(paths)), test_size=0.2, stratify=labels, random_state=0)
        tr, te = np.sort(tr), np.sort(te)
        train_paths, ytr = [paths[i] for i in tr], labels[tr]
        test_paths, yte = [paths[i] for i in te], labels[te]
    xtr = read_images_cached(train_paths, mode, size)
    xte = read_images_cached(test_paths, mode, size)
    if size is None and xte.shape[1:] != xtr.shape[1:]:
        raise MissingDataError(f"{root}: train images are {xtr.shape[1:3]} but test images {xte.shape[1:3]}")
    return make_splits(name, (xtr, ytr), (xte, yte), names, channel_stats(xtr))


@dataclass(frozen=True)
class DomainImages:
    """Images of a domain folder: uint8 ``images`` (N, H, W, C) with ``labels`` and ``domains`` ids."""

    images: np.ndarray
    labels: np.ndarray
    domains: np.ndarray
    class_names: tuple[str, ...]
    domain_names: tuple[str, ...]
    paths: tuple[Path, ...]

    def pairs(self) -> set[tuple[str, str]]:
        """The (class, domain) name pairs present."""
        return {(self.class_names[c], self.domain_names[d]) for c, d in zip(self.labels.tolist(), self.domains.tolist())}


def read_domain_folder(root: str | Path, *, mode: str = "RGB", size: int | None = None) -> DomainImages:
    """Every image of ``root/<domain>/<class>/<image>``; class ids index the sorted union of class folders."""
    root = dataset_root(root, "OBLIVIATE_DOMAIN_DIR", "the domain folder")
    domain_dirs = _visible_dirs(root)
    if not domain_dirs:
        raise MissingDataError(f"{root} holds no domain folders (expected {root}/<domain>/<class>/<image>)")
    per_domain = {d.name: scan_classes(d) for d in domain_dirs}
    class_names = tuple(sorted({c for classes in per_domain.values() for c in classes}))
    domain_names = tuple(per_domain)
    index = {n: i for i, n in enumerate(class_names)}
    paths, labels, domains = [], [], []
    for d, (domain, classes) in enumerate(per_domain.items()):
        for cls, files in classes.items():
            paths += files
            labels += [index[cls]] * len(files)
            domains += [d] * len(files)
    images = read_images_cached(paths, mode, size)
    return DomainImages(images, np.array(labels, dtype=np.int64), np.array(domains, dtype=np.int64),
                        class_names, domain_names, tuple(paths))


def _image_folder(data_dir: str | Path | None = None) -> ImageSplits:
    """An image folder root/<class>/<img> (or root/train + root/test), RGB, one image size."""
    return load_image_folder(dataset_root(data_dir, "OBLIVIATE_IMAGE_FOLDER", "the image folder"))


IMAGE_DATASETS.register("image-folder", _image_folder)
