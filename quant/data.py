"""Offline image data for calibration and training: ``digits``, ``fashion-mnist``, image folders.

Nothing is downloaded: ``digits`` ships with scikit-learn, ``fashion-mnist`` is Debian's
``dataset-fashion-mnist`` package (``make setup`` installs it), and an image folder is any
``root/<class>/<image>`` tree a user points at. Images are kept as uint8 at their native size and
turned, one batch at a time, into float RGB tensors in [-1, 1] at the model's resolution:
grayscale is replicated to three channels and the image is resized bilinearly. The [-1, 1] range
maps onto int8 codes with a scale of 2^-7 (see docs/numerics.md).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hfaccel.errors import HfaccelError

__all__ = ["DATASETS", "FASHION_MNIST_DIR", "ImageData", "load_data"]

FASHION_MNIST_DIR = Path(os.environ.get("HFACCEL_FASHION_MNIST",
                                        "/usr/share/datasets/fashion-mnist"))
FASHION_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                   "sneaker", "bag", "ankle-boot")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm",
                  ".ppm"}
DATASETS = ("digits", "fashion-mnist")


@dataclass
class ImageData:
    """uint8 images ``(N, C, h, w)`` with C in {1, 3}, int64 labels, and class names."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def to_input(self, images: torch.Tensor, resolution: int | tuple[int, int]) -> torch.Tensor:
        """uint8 ``(B, C, h, w)`` -> float ``(B, 3, R, R)`` in [-1, 1] (``(B, 3, H, W)`` for a
        ``resolution`` of ``(H, W)``)."""
        size = (resolution, resolution) if isinstance(resolution, int) else tuple(resolution)
        x = images.float() / 127.5 - 1.0
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return x.clamp(-1.0, 1.0).contiguous()

    def batches(self, batch_size: int, resolution: int | tuple[int, int], *,
                shuffle: bool = False, seed: int = 0, epoch: int = 0):
        """Yield ``(inputs, labels)`` batches; the order depends only on (seed, epoch)."""
        n = len(self)
        if shuffle:
            g = torch.Generator().manual_seed(seed * 100003 + epoch)
            order = torch.randperm(n, generator=g)
        else:
            order = torch.arange(n)
        for i in range(0, n, batch_size):
            idx = order[i:i + batch_size]
            yield self.to_input(self.images[idx], resolution), self.labels[idx]

    def subset(self, limit: int | None, seed: int = 0) -> ImageData:
        """A deterministic class-balanced-by-chance random subset of at most ``limit`` images."""
        if limit is None or limit >= len(self):
            return self
        if limit < 1:
            raise HfaccelError(f"data limit must be >= 1, got {limit}")
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self), generator=g)[:limit]
        return ImageData(self.name, self.images[idx], self.labels[idx], self.classes)


def _digits(split: str, seed: int) -> ImageData:
    from sklearn.datasets import load_digits

    d = load_digits()
    images = torch.from_numpy(np.round(d.images * (255.0 / 16.0)).astype(np.uint8))[:, None]
    labels = torch.from_numpy(d.target.astype(np.int64))
    # sklearn ships one set of 1797 images: a fixed 80/20 split.
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(labels))
    idx = order[:cut] if split == "train" else order[cut:]
    return ImageData("digits", images[idx], labels[idx], tuple(str(i) for i in range(10)))


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _fashion_mnist(split: str) -> ImageData:
    prefix = "train" if split == "train" else "t10k"
    img_path = FASHION_MNIST_DIR / f"{prefix}-images-idx3-ubyte.gz"
    lbl_path = FASHION_MNIST_DIR / f"{prefix}-labels-idx1-ubyte.gz"
    if not img_path.exists():
        raise HfaccelError(
            f"fashion-mnist not found at {FASHION_MNIST_DIR} (install Debian's "
            "dataset-fashion-mnist: `make setup`, or set HFACCEL_FASHION_MNIST)")
    images = torch.from_numpy(_read_idx(img_path).copy())[:, None]
    labels = torch.from_numpy(_read_idx(lbl_path).astype(np.int64))
    return ImageData("fashion-mnist", images, labels, FASHION_CLASSES)


def _image_folder(root: Path, split: str, seed: int, resolution: int | None) -> ImageData:
    if not root.is_dir():
        raise HfaccelError(f"data {str(root)!r} is neither a known data set "
                           f"({', '.join(DATASETS)}) nor a folder")
    # A `train/` and `val/` (or `test/`) split inside the folder wins over a random split.
    for name in (("train",) if split == "train" else ("val", "test")):
        if (root / name).is_dir():
            return _image_folder_classes(root / name, resolution, str(root))
    data = _image_folder_classes(root, resolution, str(root))
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    cut = max(1, int(0.8 * len(data)))
    idx = order[:cut] if split == "train" else order[cut:]
    return ImageData(data.name, data.images[idx], data.labels[idx], data.classes)


def _image_folder_classes(root: Path, resolution: int | None, name: str) -> ImageData:
    from PIL import Image, UnidentifiedImageError

    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise HfaccelError(f"image folder {str(root)!r} has no class sub-folders "
                           "(expected root/<class>/<image>)")
    size = resolution or 64
    images, labels = [], []
    for label, cls in enumerate(classes):
        for f in sorted((root / cls).iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(f) as im:
                    im = im.convert("RGB").resize((size, size), Image.BILINEAR)
                    images.append(torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1))
            except (UnidentifiedImageError, OSError) as e:
                raise HfaccelError(f"cannot read image {str(f)!r}: {e}") from None
            labels.append(label)
    if not images:
        raise HfaccelError(f"image folder {str(root)!r} contains no images "
                           f"({', '.join(sorted(IMAGE_SUFFIXES))})")
    return ImageData(name, torch.stack(images), torch.tensor(labels, dtype=torch.int64),
                     tuple(classes))


def load_data(name: str, split: str = "train", *, limit: int | None = None, seed: int = 0,
              resolution: int | None = None) -> ImageData:
    """Load ``digits``, ``fashion-mnist`` or an image folder path; ``split`` is train or val."""
    if split not in ("train", "val"):
        raise HfaccelError(f"split must be 'train' or 'val', got {split!r}")
    if name == "digits":
        data = _digits(split, seed)
    elif name == "fashion-mnist":
        data = _fashion_mnist(split)
    else:
        data = _image_folder(Path(name), split, seed, resolution)
    return data.subset(limit, seed)
