"""Top-1 / top-5 accuracy of exported models on an ImageFolder directory (MindCV's validate.py
for exported files).

Layout: DATA_DIR/<class>/<image>, class indices = sorted folder names (as MindCV/MindSpore's
ImageFolderDataset). Every image is decoded and preprocessed once (coat_export.preprocess,
MindCV's eval transform) and each batch is fed to every model, so all formats see identical
inputs. .onnx files (and bundle directories) run in ONNX Runtime; .mindir files in
MindSpore's GraphCell (MindSpore is imported only when a .mindir is given). Images that cannot
be decoded are reported and skipped; accuracy counts the decodable images.
"""
import os
import sys
import time
from dataclasses import dataclass, field, asdict
from typing import List, Optional, Sequence

import numpy as np

from .errors import UserError
from .preprocess import PreprocessConfig, iter_batches, list_image_folder, preprocess_batch

__all__ = ["FormatResult", "ValidationReport", "resolve_preprocess", "validate", "format_table",
           "ProgressBar"]


@dataclass
class FormatResult:
    file: str
    format: str
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


class ProgressBar:
    """A one-line bar on stderr, redrawn per update on a terminal; every 10% otherwise."""

    def __init__(self, total: int, label: str = "", stream=None, width: int = 30):
        self.total, self.label, self.width = max(total, 1), label, width
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.perf_counter()
        self._last_decile = -1

    def update(self, done: int) -> None:
        frac = min(1.0, done / self.total)
        elapsed = time.perf_counter() - self.start
        filled = int(round(frac * self.width))
        line = (f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                f"{done}/{self.total} ({elapsed:.1f}s)")
        if self.tty:
            self.stream.write("\r" + line)
            self.stream.flush()
        else:
            decile = int(frac * 10)
            if decile != self._last_decile:
                self._last_decile = decile
                self.stream.write(line + "\n")
                self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def resolve_preprocess(files: Sequence[str], backends, overrides: Optional[dict] = None
                       ) -> PreprocessConfig:
    """Flags > manifest.json of a bundle / beside a model > the ONNX input size > 224."""
    from .bundle import MANIFEST_NAME, read_manifest

    base = {}
    for f in files:
        d = f if os.path.isdir(f) else os.path.dirname(os.path.abspath(f))
        if os.path.isfile(os.path.join(d, MANIFEST_NAME)):
            base = dict(read_manifest(d).get("preprocessing") or {})
            break
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
        raise UserError(str(exc)) from None
    for b in backends:
        if b.image_size and b.image_size != cfg.image_size:
            raise UserError(f"{b.path} takes {b.image_size}x{b.image_size} images, "
                            f"not {cfg.image_size}")
    return cfg


def validate(files: Sequence[str], data_dir: str, batch_size: int = 32,
             preprocess: Optional[PreprocessConfig] = None, overrides: Optional[dict] = None,
             progress: bool = True, limit: Optional[int] = None,
             threads: Optional[int] = None) -> ValidationReport:
    """Evaluate every model file on the ImageFolder at data_dir; returns a ValidationReport.

    preprocess: explicit config; else resolve_preprocess(files, ..., overrides).
    limit: evaluate only the first `limit` images (in sorted order), for smoke runs.
    """
    from .runtime import open_backend

    if batch_size < 1:
        raise UserError("--batch_size must be >= 1")
    classes, samples = list_image_folder(data_dir)
    if limit:
        samples = samples[:limit]
    backends = [open_backend(f, intra_op_threads=threads) for f in files]
    cfg = preprocess or resolve_preprocess(files, backends, overrides)
    for f, b in zip(files, backends):
        if b.num_classes is not None and b.num_classes < len(classes):
            raise UserError(f"{f} has {b.num_classes} classes but {data_dir} has "
                            f"{len(classes)} class folders")
    results = [FormatResult(file=f, format=b.format) for f, b in zip(files, backends)]
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
                k = min(5, logits.shape[-1])
                top = np.argsort(-logits, axis=-1, kind="stable")[:, :k]
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
    rows = [("model", "format", "images", "top-1", "top-5", "model s", "img/s")]
    for r in report.results:
        ips = f"{r.num_images / r.seconds:.0f}" if r.seconds else "-"
        rows.append((r.file, r.format, str(r.num_images), f"{100 * r.top1:.2f}%",
                     f"{100 * r.top5:.2f}%", f"{r.seconds:.2f}", ips))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in
                       enumerate(zip(row, widths))) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if report.skipped:
        lines.append(f"skipped {len(report.skipped)} unreadable image(s) (listed on stderr and "
                     "in --json)")
    return "\n".join(lines)
