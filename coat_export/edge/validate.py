"""Top-1 / top-5 accuracy of exported models on an ImageFolder directory (MindCV's validate.py
for exported files).

Layout: DATA_DIR/<class>/<image>, class indices = sorted folder names (as MindCV/MindSpore's
ImageFolderDataset). Every image is decoded and preprocessed once (edge.preprocess,
MindCV's eval transform) and each batch is fed to every model, so all formats see identical
inputs. The models come as runners (`coat_export.host.open_models.open_runners`): ONNX files and
bundles in ONNX Runtime and/or OpenVINO, .mindir files and the MindSpore network on the host.
Images that cannot be decoded are reported and skipped; accuracy counts the decodable images.
"""
import time
from dataclasses import dataclass, field, asdict
from typing import List, Optional, Sequence

import numpy as np

from .errors import UserError
from .preprocess import PreprocessConfig, iter_batches, list_image_folder, preprocess_batch
from .progress import ProgressBar
from .topk import topk_indices

__all__ = ["FormatResult", "ValidationReport", "resolve_preprocess", "validate", "format_table"]


@dataclass
class FormatResult:
    file: str
    format: str
    runtime: str
    precision: str = "fp32"
    num_images: int = 0
    correct_top1: int = 0
    correct_top5: int = 0
    seconds: float = 0.0   # model time only (preprocessing excluded)

    @property
    def top1(self) -> float:
        return self.correct_top1 / self.num_images if self.num_images else 0.0

    @property
    def top5(self) -> float:
        return self.correct_top5 / self.num_images if self.num_images else 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(top1=self.top1, top5=self.top5,
                 images_per_second=self.num_images / self.seconds if self.seconds else None)
        return d


@dataclass
class ValidationReport:
    data_dir: str
    classes: List[str]
    preprocessing: dict
    batch_size: int
    results: List[FormatResult]
    num_images: int                 # decodable images evaluated
    skipped: List[dict] = field(default_factory=list)   # {"path", "error"}
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"data_dir": self.data_dir, "num_classes": len(self.classes),
                "classes": self.classes, "num_images": self.num_images,
                "batch_size": self.batch_size, "preprocessing": self.preprocessing,
                "skipped": self.skipped, "seconds": self.seconds,
                "results": [r.to_dict() for r in self.results]}


def resolve_preprocess(backends, overrides: Optional[dict] = None,
                       base: Optional[dict] = None) -> PreprocessConfig:
    """Flags > `base` (a model's own: a bundle manifest, the host config) > the runners'
    input size > 224."""
    base = dict(base or {})
    own = {}
    for b in backends:
        source = getattr(b, "source", None)
        bundle = getattr(source, "bundle", None)
        if bundle is not None:
            where, given = f"the manifest of {bundle.directory}", bundle.preprocessing
        elif (getattr(source, "metadata", None) or {}).get("preprocessing"):
            where, given = f"the metadata of {b.name}", source.metadata["preprocessing"]
        else:
            continue
        try:
            own[where] = PreprocessConfig.from_dict(given)
        except ValueError as exc:
            raise UserError(f"bad preprocessing in {where}: {exc}") from exc
    if len(set(own.values())) > 1:
        raise UserError("the models' own preprocessing differs (bundle manifests or ONNX "
                        "metadata); validate them separately")
    if not base and own:
        base = next(iter(own.values())).to_dict()
    sizes = {b.image_size for b in backends if b.image_size}
    if len(sizes) > 1:
        raise UserError(f"the models take different image sizes {sorted(sizes)}; validate "
                        "them separately")
    if "image_size" not in base:
        base["image_size"] = sizes.pop() if sizes else 224
    base.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        cfg = PreprocessConfig.from_dict(base)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    for b in backends:
        if b.image_size and b.image_size != cfg.image_size:
            raise UserError(f"{b.name} takes {b.image_size}x{b.image_size} images, "
                            f"not {cfg.image_size}")
    return cfg


def validate(backends: Sequence, data_dir: str, batch_size: int = 32,
             preprocess: Optional[PreprocessConfig] = None, overrides: Optional[dict] = None,
             progress: bool = True, limit: Optional[int] = None,
             base_preprocess: Optional[dict] = None) -> ValidationReport:
    """Evaluate every runner on the ImageFolder at data_dir; returns a ValidationReport.

    preprocess: explicit config; else resolve_preprocess(backends, overrides, base_preprocess).
    limit: evaluate only the first `limit` images (in sorted order), for smoke runs.
    """
    if batch_size < 1:
        raise UserError("--batch_size must be >= 1")
    classes, samples = list_image_folder(data_dir)
    if limit:
        samples = samples[:limit]
    cfg = preprocess or resolve_preprocess(backends, overrides, base_preprocess)
    for b in backends:
        if b.num_classes is not None and b.num_classes != len(classes):
            raise UserError(f"{b.name} has {b.num_classes} classes but {data_dir} has "
                            f"{len(classes)} class folders: is it the right dataset "
                            "(or split)?")
    results = [FormatResult(file=b.name, format=b.format, runtime=b.runtime,
                            precision=b.precision) for b in backends]
    skipped = []
    bar = ProgressBar(len(samples), "validate") if progress else None
    t0 = time.perf_counter()
    done = 0
    for chunk in iter_batches(samples, batch_size):
        paths = [p for p, _ in chunk]
        batch, kept, errors = preprocess_batch(paths, cfg, skip_errors=True)
        for i, msg in errors:
            skipped.append({"path": paths[i], "error": msg})
        if kept:
            labels = np.array([chunk[i][1] for i in kept])
            for res, b in zip(results, backends):
                s = time.perf_counter()
                logits = np.asarray(b(batch))
                res.seconds += time.perf_counter() - s
                top = topk_indices(logits, 5)
                res.num_images += len(labels)
                res.correct_top1 += int(np.sum(top[:, 0] == labels))
                res.correct_top5 += int(np.sum((top == labels[:, None]).any(axis=1)))
        done += len(chunk)
        if bar is not None:
            bar.update(done)
    if bar is not None:
        bar.close()
    return ValidationReport(data_dir=data_dir, classes=classes, preprocessing=cfg.to_dict(),
                            batch_size=batch_size, results=results,
                            num_images=len(samples) - len(skipped), skipped=skipped,
                            seconds=time.perf_counter() - t0)


def format_table(report: ValidationReport) -> str:
    rows = [("model", "format", "runtime", "images", "top-1", "top-5", "model s", "img/s")]
    for r in report.results:
        ips = f"{r.num_images / r.seconds:.0f}" if r.seconds else "-"
        rows.append((r.file, r.format, r.runtime, str(r.num_images), f"{100 * r.top1:.2f}%",
                     f"{100 * r.top5:.2f}%", f"{r.seconds:.2f}", ips))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if report.skipped:
        lines.append(f"skipped {len(report.skipped)} unreadable image(s) (listed on stderr and "
                     "in --json)")
    return "\n".join(lines)


# Folder names MindCV-style dataset roots use for their splits.
SPLIT_NAMES = {"train", "val", "validation", "test", "eval", "valid"}


def resolve_data_dir(data_dir: str, val_split: Optional[str] = None) -> str:
    """DATA_DIR, or DATA_DIR/NAME with --val_split; refuses a root of split folders (which
    would otherwise be scored as a 2- or 3-class dataset)."""
    import os

    if not os.path.isdir(data_dir):
        raise UserError(f"data directory not found: {data_dir}")
    if val_split:
        if val_split in ("", ".", "..") or "/" in val_split or "\\" in val_split:
            raise UserError(f"--val_split takes a folder name inside {data_dir}, got "
                            f"{val_split!r}")
        path = os.path.join(data_dir, val_split)
        if not os.path.isdir(path):
            raise UserError(f"--val_split {val_split}: {path} is not a directory")
        return path
    subdirs = [d for d in os.listdir(data_dir)
               if os.path.isdir(os.path.join(data_dir, d)) and not d.startswith(".")]
    if subdirs and all(d.lower() in SPLIT_NAMES for d in subdirs):
        raise UserError(f"{data_dir} holds dataset splits ({', '.join(sorted(subdirs))}), not "
                        "class folders: pass --val_split NAME (e.g. --val_split val)")
    return data_dir
