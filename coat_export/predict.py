"""Classify images with an exported ONNX model or an edge bundle. Never imports MindSpore.

`MODEL` is an .onnx file or a bundle directory (see coat_export.bundle). Preprocessing and
labels come from the bundle's manifest.json; an .onnx file with a manifest.json beside it
uses that manifest; a bare .onnx file gets MindCV's defaults (crop 0.9, bicubic, ImageNet
mean/std, image size from the graph's input or 224) and a warning.
"""
import json
import os
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

import numpy as np

from .bundle import MANIFEST_NAME, load_labels, read_manifest, variant_file, verify_file
from .errors import UserError
from .preprocess import PreprocessConfig, preprocess_batch
from .progress import say

__all__ = ["ResolvedModel", "resolve_model", "softmax", "topk", "Predictor", "predict"]


@dataclass
class ResolvedModel:
    onnx_path: str
    preprocess: PreprocessConfig
    labels: Optional[List[str]] = None
    manifest: Optional[dict] = None
    notes: List[str] = field(default_factory=list)  # warnings for the user


def resolve_model(model: str, labels_file: Optional[str] = None,
                  variant: Optional[str] = None) -> ResolvedModel:
    """Find the ONNX file, the preprocessing and the labels for MODEL (.onnx or bundle dir)."""
    notes: List[str] = []
    manifest, manifest_dir = None, None
    if os.path.isdir(model):
        manifest = read_manifest(model)
        manifest_dir = model
        onnx_path = os.path.join(model, variant_file(manifest, variant))
        verify_file(model, manifest, os.path.basename(onnx_path))
    elif os.path.isfile(model):
        if variant:
            raise UserError("--variant needs a bundle directory as MODEL, not an .onnx file")
        onnx_path = model
        beside = os.path.join(os.path.dirname(os.path.abspath(model)), MANIFEST_NAME)
        if os.path.isfile(beside):
            manifest = read_manifest(os.path.dirname(os.path.abspath(model)))
            manifest_dir = os.path.dirname(os.path.abspath(model))
    else:
        raise UserError(f"model not found: {model}")

    if manifest is not None:
        try:
            preprocess = PreprocessConfig.from_dict(manifest.get("preprocessing") or {})
        except (ValueError, TypeError) as exc:
            raise UserError(f"bad preprocessing in {MANIFEST_NAME} of {model}: {exc}") from None
    else:
        preprocess = None
    labels = None
    if labels_file:
        labels = load_labels(labels_file)
    elif manifest is not None and manifest.get("labels"):
        labels = load_labels(os.path.join(manifest_dir, manifest["labels"]))
    return ResolvedModel(onnx_path=onnx_path, preprocess=preprocess, labels=labels,
                         manifest=manifest, notes=notes)


def softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def topk(probs: np.ndarray, k: int):
    """(indices, values) of the k largest entries per row, ties broken by the lower index."""
    k = min(k, probs.shape[-1])
    idx = np.argsort(-probs, axis=-1, kind="stable")[..., :k]
    return idx, np.take_along_axis(probs, idx, axis=-1)


class Predictor:
    """An ONNX Runtime session plus the preprocessing and labels that belong to it."""

    def __init__(self, model: str, labels_file: Optional[str] = None,
                 variant: Optional[str] = None, provider=None, threads: Optional[int] = None):
        from .runtime import create_session, input_info, output_info

        self.resolved = r = resolve_model(model, labels_file, variant)
        self.session = create_session(r.onnx_path, provider=provider, intra_op_threads=threads)
        self.input = input_info(self.session)[0]
        self.output = output_info(self.session)[0]
        graph_size = self.input.image_size
        if r.preprocess is None:
            size = graph_size or 224
            r.preprocess = PreprocessConfig(image_size=size)
            r.notes.append(f"no {MANIFEST_NAME} beside {os.path.basename(r.onnx_path)}: using "
                           f"default preprocessing (image_size {size}, crop_pct 0.9, bicubic, "
                           "ImageNet mean/std); pass a bundle directory for the model's own")
        elif graph_size and graph_size != r.preprocess.image_size:
            raise UserError(f"manifest says image_size {r.preprocess.image_size} but "
                            f"{os.path.basename(r.onnx_path)} takes {graph_size}x{graph_size}")
        classes = self.output.shape[-1] if self.output.shape else None
        if r.labels is not None and isinstance(classes, int) and len(r.labels) != classes:
            raise UserError(f"the labels file has {len(r.labels)} names but the model has "
                            f"{classes} classes")

    def logits(self, batch: np.ndarray, max_batch: int = 16) -> np.ndarray:
        from .runtime import run_batches

        return run_batches(self.session, batch, max_batch=max_batch)

    def predict(self, images: Sequence[str], k: int = 5, max_batch: int = 16) -> List[dict]:
        batch = preprocess_batch(list(images), self.resolved.preprocess)
        probs = softmax(self.logits(batch, max_batch))
        idx, val = topk(probs, k)
        results = []
        for path, ii, vv in zip(images, idx, val):
            results.append({"image": str(path), "top": [
                {"class": int(i), "label": self.label(int(i)), "prob": float(v)}
                for i, v in zip(ii, vv)]})
        return results

    def label(self, i: int) -> Optional[str]:
        labels = self.resolved.labels
        return labels[i] if labels is not None and 0 <= i < len(labels) else None


def predict(model: str, images: Sequence[str], labels_file: Optional[str] = None, k: int = 5,
            variant: Optional[str] = None, provider=None) -> List[dict]:
    """Top-k predictions per image: [{"image", "top": [{"class", "label", "prob"}...]}]."""
    return Predictor(model, labels_file, variant, provider).predict(images, k)


def format_text(results: List[dict]) -> str:
    lines = []
    for r in results:
        lines.append(r["image"])
        for rank, t in enumerate(r["top"], start=1):
            name = f"{t['label']} ({t['class']})" if t["label"] is not None else f"class {t['class']}"
            lines.append(f"  {rank}. {name:<32} {t['prob']:.4f}")
    return "\n".join(lines)


def format_json(results: List[dict], model: ResolvedModel) -> str:
    return json.dumps({"model": model.onnx_path, "preprocessing": model.preprocess.to_dict(),
                       "results": results}, indent=1)
