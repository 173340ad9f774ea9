"""MindCV's evaluation preprocessing defaults: the one place they are written down.

The variants' own preprocessing (`model.DEFAULT_CFGS`, as timm's `default_cfgs`) is built from
these; `PreprocessConfig`'s defaults are these, for a bare ONNX file with no manifest.
"""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_CROP_PCT = 0.9          # resize to int(image_size / crop_pct), then center crop
DEFAULT_INTERPOLATION = "bicubic"


def eval_cfg(**overrides) -> dict:
    """A variant's default preprocessing (timm's `_cfg`): MindCV's eval transform."""
    return {"crop_pct": DEFAULT_CROP_PCT, "interpolation": DEFAULT_INTERPOLATION,
            "mean": IMAGENET_MEAN, "std": IMAGENET_STD, **overrides}
