"""What `export` was asked, read once from its flags and checked before any slow work.

`ExportOptions.from_args` is the one place the export command's flags become options;
`validate` refuses flags that do not go together (and AIR away from Ascend) before a network
is built. The pipeline (`host.pipeline`) and the bundle writer take these options as given.
"""
import os
from dataclasses import dataclass
from typing import Optional

from ..edge.errors import UserError
from ..edge.progress import say
from .bundle_writer import BundleOptions

__all__ = ["ExportOptions", "check_air_supported", "current_device_target"]


@dataclass(frozen=True)
class ExportOptions:
    """What `export` was asked: the format and its graph, the checks, the bundle."""

    format: str
    batch_size: int = 1
    dynamic_batch: bool = False
    opset: int = 17
    seed: int = 0
    check: bool = False
    labels: Optional[str] = None
    bundle: Optional[BundleOptions] = None     # --bundle
    images: Optional[str] = None               # --bundle: real images for reference.npz

    @classmethod
    def from_args(cls, args) -> "ExportOptions":
        bundle = None
        if args.bundle:
            bundle = BundleOptions(labels_file=args.labels,
                                   variants=tuple(args.bundle_variants or ()),
                                   calib_dir=args.calib_dir)
        elif args.bundle_variants or args.images:
            raise UserError("--bundle_variants and --images belong to --bundle")
        return cls(format=args.format, batch_size=args.batch_size,
                   dynamic_batch=args.dynamic_batch, opset=args.opset, seed=args.seed,
                   check=args.check, labels=args.labels, bundle=bundle, images=args.images)

    def validate(self) -> None:
        """UserError for flags that do not go together, before any slow work."""
        if self.dynamic_batch and self.format == "air":
            raise UserError("--dynamic_batch is not available for AIR; export a static batch "
                            "size")
        if self.dynamic_batch and self.batch_size != 1:
            say("note: --dynamic_batch given: --batch_size is ignored")
        if self.format == "onnx":
            from ..converters import ConversionError, check_opset

            try:
                check_opset(self.opset)
            except ConversionError as exc:
                raise UserError(f"--opset: {exc}") from exc
        if self.check and self.format == "air":
            raise UserError("--check needs a MINDIR or ONNX export (AIR runs only on Ascend)")
        if self.labels and self.format != "onnx":
            raise UserError("--labels go into the ONNX file's metadata and its bundle: "
                            "--format onnx")
        if self.labels and not os.path.isfile(self.labels):
            raise UserError(f"labels file not found: {self.labels}")
        if self.bundle:
            if self.format != "onnx":
                raise UserError("--bundle needs --format onnx (a bundle is for ONNX Runtime)")
            if self.images and not os.path.isdir(self.images):
                raise UserError(f"--images: not a directory: {self.images}")
            if "static" in self.bundle.variants and not self.bundle.calib_dir:
                raise UserError("the 'static' bundle variant needs calibration images: "
                                "--calib_dir")
        if self.format == "air":
            check_air_supported(current_device_target())


def current_device_target() -> str:
    from .mindspore_import import import_mindspore

    return str(import_mindspore().get_context("device_target"))


def check_air_supported(device_target: str) -> None:
    """AIR export needs MindSpore's Ascend backend; say so, and what to use instead."""
    if device_target != "Ascend":
        raise UserError(f"AIR export needs an Ascend device with CANN installed (MindSpore's "
                        f"device target here is {device_target}); use --format mindir for Ascend "
                        "inference (ATC/MindSpore Lite accept MINDIR) or --format onnx elsewhere")
