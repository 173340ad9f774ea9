"""MindCV's evaluation transform in NumPy + Pillow: the one preprocessing of the edge runtime.

MindCV (`mindcv.data.transforms_imagenet_eval`) evaluates with

    Decode -> Resize(int(image_size / crop_pct), bicubic) -> CenterCrop(image_size)
    -> Normalize(mean*255, std*255) -> HWC2CHW

This module computes the same thing without MindSpore, so that `predict`, `validate` and the
parity check all feed the exported graph the numbers the network was trained on:

* decode: PIL, then ``.convert("RGB")`` as MindCV's decode does. That means: grayscale is
  replicated to three channels; palette images take their palette colours (transparency is
  ignored); RGBA / LA drop the alpha channel *without compositing* (pixels under full
  transparency keep whatever colour they store); CMYK uses PIL's conversion. 16-bit
  grayscale (PIL modes I;16*, I) is scaled to 8 bits (value >> 8), as OpenCV-style decoders
  do, instead of PIL's clipping at 255 (which turns most 16-bit images white). EXIF
  orientation is not applied (MindCV does not apply it either).
* resize: the shorter side to ``int(image_size / crop_pct)``, the longer side to
  ``int(long * scale / short)`` (truncated, as MindSpore's Resize does);
* center crop: offset ``(size - image_size) // 2`` (floor, as MindSpore's CenterCrop);
* ``(x / 255 - mean) / std`` in float32, NCHW.

A file that cannot be decoded raises `ImageDecodeError` (a `UserError`: `predict` reports it
as one line; `validate` catches it, reports the file and skips it).
"""
import os
import warnings
from dataclasses import dataclass, asdict
from typing import Iterable, List, Sequence, Tuple, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from .defaults import DEFAULT_CROP_PCT, DEFAULT_INTERPOLATION, IMAGENET_MEAN, IMAGENET_STD
from .errors import UserError, first_line

__all__ = ["PreprocessConfig", "ImageDecodeError", "IMAGE_EXTENSIONS", "load_image",
           "preprocess_image", "preprocess_batch", "list_images", "list_image_folder",
           "resize_size"]


# Extensions MindSpore's ImageFolderDataset reads (plus a few PIL decodes anyway).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".tif", ".tiff", ".gif",
                    ".webp", ".ppm", ".pgm", ".pbm", ".pnm")

_INTERPOLATIONS = {
    "bicubic": Image.BICUBIC,
    "bilinear": Image.BILINEAR,
    "nearest": Image.NEAREST,
    "lanczos": Image.LANCZOS,
    "area": Image.BOX,
    "box": Image.BOX,
    "hamming": Image.HAMMING,
}


# Decompression-bomb guard: images above this many pixels are refused from their header,
# before any pixel is decoded (a 64-megapixel RGB image decodes to 192 MB). Pillow's own
# guard only warns up to twice its limit; ours is the one line users see.
MAX_IMAGE_PIXELS = 64_000_000
# after the shorter-side resize: a photo of any usual aspect ratio is far below this (4000x3000
# -> 330x248); a 1x60000 strip of 199 bytes would not be
MAX_RESIZED_PIXELS = 4_000_000


class ImageDecodeError(UserError):
    """A file that is not an image Pillow can decode (missing, corrupt, truncated)."""


MAX_IMAGE_SIZE = 4096      # model input side; MindCV models take 224-576
MIN_CROP_PCT = 0.1         # resize side <= 10x the crop (MindCV uses 0.875-1.0)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _finite(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name} must be a number, got {_short(value)}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {_short(value)}")
    return v


def _bounded_int(name: str, value, low: int, high: int) -> int:
    v = _finite(name, value)
    if v != int(v) or not low <= v <= high:
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {_short(value)}")
    return int(v)


def _triple(name: str, value) -> Tuple[float, float, float]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 3:
        raise ValueError(f"{name} needs 3 values (R, G, B), got {_short(value)}")
    return tuple(_finite(name, v) for v in value)


@dataclass(frozen=True)
class PreprocessConfig:
    """The parameters of MindCV's eval transform (keys as in MindCV's yaml configs)."""

    image_size: int = 224
    crop_pct: float = DEFAULT_CROP_PCT
    mean: Tuple[float, float, float] = IMAGENET_MEAN
    std: Tuple[float, float, float] = IMAGENET_STD
    interpolation: str = DEFAULT_INTERPOLATION

    def __post_init__(self):
        # Values come from untrusted manifests and yaml: every type and range is checked
        # here, and every problem is a ValueError (one line for the user).
        object.__setattr__(self, "image_size", _bounded_int("image_size", self.image_size,
                                                            1, MAX_IMAGE_SIZE))
        object.__setattr__(self, "crop_pct", _finite("crop_pct", self.crop_pct))
        object.__setattr__(self, "mean", _triple("mean", self.mean))
        object.__setattr__(self, "std", _triple("std", self.std))
        if not isinstance(self.interpolation, str) or len(self.interpolation) > 32:
            raise ValueError(f"interpolation must be a name, got {_short(self.interpolation)}")
        object.__setattr__(self, "interpolation", self.interpolation.lower())
        if not MIN_CROP_PCT <= self.crop_pct <= 1.0:
            raise ValueError(f"crop_pct must be in [{MIN_CROP_PCT}, 1], got {self.crop_pct}")
        if any(s <= 0 for s in self.std):
            raise ValueError(f"std values must be positive, got {list(self.std)}")
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(f"unknown interpolation '{self.interpolation}'; "
                             f"known: {', '.join(sorted(_INTERPOLATIONS))}")

    @property
    def resize_size(self) -> int:
        return resize_size(self.image_size, self.crop_pct)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "PreprocessConfig":
        """From `to_dict()` output or a MindCV-style dict (`image_resize` = image_size);
        unknown keys are ignored."""
        d = dict(d or {})
        if "image_size" not in d and "image_resize" in d:
            d["image_size"] = d["image_resize"]
        known = {k: d[k] for k in ("image_size", "crop_pct", "mean", "std", "interpolation")
                 if k in d and d[k] is not None}
        return cls(**known)


def resize_size(image_size: int, crop_pct: float) -> int:
    """MindCV's scale size: ``int(image_size / crop_pct)`` (224, 0.9 -> 248)."""
    return int(image_size / crop_pct)


def _to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode.startswith("I;16") or mode == "I":
        # In the image's own integer width (no int64 copy): 2-4 bytes a pixel, then 1.
        a = np.asarray(img)
        if a.dtype.byteorder == ">":
            a = a.astype(a.dtype.newbyteorder("="))
        if a.dtype.kind == "i":
            a = np.clip(a, 0, 65535, out=a if a.flags.writeable else None)
        return Image.fromarray((a >> 8).astype(np.uint8), "L").convert("RGB")
    if mode == "F":
        a = np.clip(np.asarray(img, dtype=np.float32), 0, 255)
        return Image.fromarray(a.astype(np.uint8), "L").convert("RGB")
    if mode == "P" and "transparency" in img.info:
        # Palette colours, alpha dropped: the same as convert("RGB"), without PIL's warning.
        return img.convert("RGBA").convert("RGB")
    return img.convert("RGB")


def load_image(path_or_pil: Union[str, os.PathLike, Image.Image]) -> Image.Image:
    """Decode a file (or take a PIL image) and return it as an 8-bit RGB PIL image."""
    if isinstance(path_or_pil, Image.Image):
        try:
            return _to_rgb(path_or_pil)
        except (OSError, ValueError) as exc:
            raise ImageDecodeError(f"cannot convert image (mode {path_or_pil.mode}) to RGB: "
                                   f"{exc}") from exc
    path = os.fspath(path_or_pil)
    if not os.path.exists(path):
        raise ImageDecodeError(f"image not found: {path}")
    if not os.path.isfile(path):
        raise ImageDecodeError(f"not a file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise ImageDecodeError(
                        f"image too large: {path} is {w}x{h} pixels, over the limit of "
                        f"{MAX_IMAGE_PIXELS // 1_000_000} megapixels (decompression-bomb guard); "
                        "downscale it first")
                img.load()
                return _to_rgb(img)
    except UnidentifiedImageError as exc:
        raise ImageDecodeError(f"not an image file (or a format Pillow cannot read): "
                               f"{path}") from exc
    except Image.DecompressionBombError as exc:
        raise ImageDecodeError(f"image too large (decompression bomb guard): {path}") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        reason = first_line(exc, limit=None)
        raise ImageDecodeError(f"corrupt or truncated image {path}: {reason}") from exc


def _resize_shorter(img: Image.Image, size: int, resample) -> Image.Image:
    w, h = img.size
    if w <= h:
        new_w, new_h = size, int(h * size / w)
    else:
        new_w, new_h = int(w * size / h), size
    if (new_w, new_h) == (w, h):
        return img
    return img.resize((new_w, new_h), resample=resample)


def _center_crop(a: np.ndarray, size: int) -> np.ndarray:
    h, w = a.shape[:2]
    if h < size or w < size:  # cannot happen after the resize (crop_pct <= 1); pad like MindSpore
        ph, pw = max(size - h, 0), max(size - w, 0)
        a = np.pad(a, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
        h, w = a.shape[:2]
    top, left = (h - size) // 2, (w - size) // 2
    return a[top:top + size, left:left + size]


def preprocess_image(path_or_pil, cfg: PreprocessConfig = PreprocessConfig()) -> np.ndarray:
    """One image -> float32 array (3, image_size, image_size), normalized, CHW."""
    img = load_image(path_or_pil)
    w, h = img.size
    short = max(1, min(w, h))
    resized = (cfg.resize_size * w // short) * (cfg.resize_size * h // short)
    if resized > MAX_RESIZED_PIXELS:   # a thin strip: few pixels, a giant resize
        name = path_or_pil if isinstance(path_or_pil, (str, os.PathLike)) else "image"
        raise ImageDecodeError(f"{name}: a {w}x{h} image resized to a shorter side of "
                               f"{cfg.resize_size} would be {resized // 1_000_000} megapixels "
                               f"(over {MAX_RESIZED_PIXELS // 1_000_000}); crop it to a sensible "
                               "aspect ratio first")
    img = _resize_shorter(img, cfg.resize_size, _INTERPOLATIONS[cfg.interpolation])
    a = _center_crop(np.asarray(img, dtype=np.uint8), cfg.image_size)
    x = a.astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(cfg.mean, np.float32)) / np.asarray(cfg.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


def preprocess_batch(paths: Sequence, cfg: PreprocessConfig = PreprocessConfig(),
                     skip_errors: bool = False):
    """Images -> float32 (N, 3, S, S).

    With skip_errors=False an undecodable file raises ImageDecodeError. With skip_errors=True
    it returns (batch, kept_indices, errors) where errors is a list of (index, message) and
    the batch holds only the decodable images (shape (0, 3, S, S) if none)."""
    arrays, kept, errors = [], [], []
    for i, p in enumerate(paths):
        try:
            arrays.append(preprocess_image(p, cfg))
            kept.append(i)
        except ImageDecodeError as exc:
            if not skip_errors:
                raise
            errors.append((i, str(exc)))
    s = cfg.image_size
    batch = np.stack(arrays) if arrays else np.zeros((0, 3, s, s), np.float32)
    if skip_errors:
        return batch, kept, errors
    return batch


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def list_images(directory: str, recursive: bool = False) -> List[str]:
    """Image files (by extension) in a directory, sorted; optionally recursive."""
    if not os.path.isdir(directory):
        raise UserError(f"not a directory: {directory}")
    found = []
    if recursive:
        for root, dirs, files in os.walk(directory):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.extend(os.path.join(root, f) for f in sorted(files) if _is_image_name(f))
    else:
        found = [os.path.join(directory, f) for f in sorted(os.listdir(directory))
                 if _is_image_name(f) and os.path.isfile(os.path.join(directory, f))]
    return found


def list_image_folder(data_dir: str) -> Tuple[List[str], List[Tuple[str, int]]]:
    """An ImageFolder layout, as MindCV/MindSpore read it: class subfolders, sorted names are
    class indices 0..C-1. Returns (class_names, [(path, class_index), ...])."""
    if not os.path.isdir(data_dir):
        raise UserError(f"data directory not found: {data_dir}")
    classes = sorted(d for d in os.listdir(data_dir)
                     if os.path.isdir(os.path.join(data_dir, d)) and not d.startswith("."))
    if not classes:
        raise UserError(f"{data_dir} has no class subfolders (expected DIR/<class>/<image>)")
    samples = []
    for idx, name in enumerate(classes):
        for path in list_images(os.path.join(data_dir, name), recursive=True):
            samples.append((path, idx))
    if not samples:
        raise UserError(f"no images found under {data_dir}")
    return classes, samples


def iter_batches(items: Sequence, batch_size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), batch_size):
        yield items[start:start + batch_size]
