"""What a parity check feeds every runner: seeded random tensors and/or real images through
MindCV's eval transform (`preprocess`), as many as the gates of the candidates' precisions need.
"""
import os
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .compare import AGREEMENT_SAMPLES
from .errors import UserError
from .options import InputOptions
from .progress import step

__all__ = ["DEFAULT_NUM_SAMPLES", "default_num_samples", "seeded_input", "CheckInputs",
           "make_inputs"]

DEFAULT_NUM_SAMPLES = 4   # fp32 only: every element is compared, a few inputs suffice


def default_num_samples(precisions: Sequence[str]) -> int:
    """Seeded random inputs when none are asked for: a few for fp32 (element-wise bounds),
    AGREEMENT_SAMPLES when any candidate is judged by agreement (fp16, bf16, int8)."""
    reduced = any(p != "fp32" for p in precisions)
    return AGREEMENT_SAMPLES if reduced else DEFAULT_NUM_SAMPLES


def seeded_input(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """A deterministic input in the range of normalised images (the one test input)."""
    return np.random.default_rng(seed).standard_normal(tuple(shape)).astype(np.float32)


@dataclass
class CheckInputs:
    array: np.ndarray            # (N, C, S, S) float32, what every runner is fed
    description: dict            # for the report: random count + seed, images, preprocessing


def make_inputs(sample_shape: Sequence[int], preprocessing: Optional[dict] = None,
                wanted: InputOptions = InputOptions(),
                precisions: Sequence[str] = ("fp32",)) -> CheckInputs:
    """Seeded random tensors and/or the images under `wanted.images` (searched recursively), through
    MindCV's eval transform at the model's own image size. Without num_samples: the images,
    topped up with random ones to default_num_samples(precisions) (agreement gates need
    samples); without images that many random ones."""
    from .preprocess import PreprocessConfig, list_images, preprocess_batch

    images, num_samples, seed = wanted.images, wanted.num_samples, wanted.seed
    if num_samples is not None and num_samples < 0:
        raise UserError(f"--num_samples must be >= 0, got {num_samples}")
    desc: dict = {"seed": int(seed)}
    want = default_num_samples(precisions)   # what the gates need, images included
    image_batch = None
    if images:
        paths = list_images(images, recursive=True)
        if not paths:
            raise UserError(f"no image files under {images} (extensions: .jpg, .png, ...)")
        try:
            cfg = PreprocessConfig.from_dict(dict(preprocessing or {},
                                                  image_size=sample_shape[-1]))
        except (ValueError, TypeError) as exc:
            raise UserError(f"preprocessing: {exc}") from exc
        with step(f"preprocess {len(paths)} image(s) from {images} at {cfg.image_size}x"
                  f"{cfg.image_size}"):
            image_batch = preprocess_batch(paths, cfg)  # ImageDecodeError: one line, exit 2
        desc["images"] = [os.path.relpath(p, images) for p in paths]
        desc["image_dir"] = images
        desc["preprocessing"] = cfg.to_dict()
    if num_samples is None:
        have = 0 if image_batch is None else len(image_batch)
        if have and want == DEFAULT_NUM_SAMPLES:
            num_samples = 0            # fp32 with images: the images alone
        else:
            num_samples = max(0, want - have)
    desc["random"] = int(num_samples)
    parts = []
    if num_samples:
        parts.append(seeded_input((num_samples, *sample_shape), seed))
    if image_batch is not None:
        parts.append(image_batch)
    if not parts:
        raise UserError("no inputs: give --num_samples N (N >= 1) and/or --images DIR")
    x = np.concatenate(parts).astype(np.float32)
    desc["count"] = int(len(x))
    desc["shape"] = [int(d) for d in x.shape[1:]]
    return CheckInputs(x, desc)
