"""The export pipeline: one verified file per format, then the parity check and the bundle.

`export_verified` owns, for MINDIR, AIR and ONNX alike, the output lock, the atomic write (the
file and its companions are written under their final names in a private folder and moved
into place only once verified) and the verification against the source network. The command
(`commands.export`) only parses, validates, runs this and reports.
"""
import os
from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from ..edge.errors import UserError
from ..edge.progress import say, step
from . import pipeline
from .bundle_writer import BundleOptions

__all__ = ["ExportOptions", "ExportedFile", "export_verified", "verified_reference",
           "bundle_export", "mindspore_reference"]


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
            from converters import ConversionError, check_opset

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
            pipeline.check_air_supported(pipeline.current_device_target())


@dataclass
class ExportedFile:
    """A written, verified export and what it was verified on (reused by --check)."""

    path: str
    inputs: Dict[int, np.ndarray]             # batch size -> seeded inputs
    reference: Optional[Dict[int, np.ndarray]]  # the network's outputs on them (None: AIR)


def export_verified(built, spec, options: ExportOptions, out_dir: str) -> ExportedFile:
    """Export `built` as out_dir/<model>.<format>, verified against the network before it
    replaces anything (AIR, which runs only on Ascend, is written unverified)."""
    from ..edge.atomic import atomic_model_path, output_lock

    o = options
    final = os.path.join(out_dir, f"{built.name}.{o.format}")
    inputs = pipeline.verification_inputs(built, o.batch_size, o.dynamic_batch, o.seed)
    reference = None
    # the file is written under its final name in a private folder (companions such as ONNX
    # external data keep the names the model records), verified there, then moved into place
    with output_lock(final), atomic_model_path(final) as tmp:
        if o.format == "mindir":
            from .runners import MindirRunner

            with step(f"compile and export MINDIR ({_batch_kind(o)})"):
                pipeline.export_mindir(built, tmp, o.batch_size, o.dynamic_batch)
            reference = pipeline.verify_export(built, MindirRunner(tmp, name=final), inputs)
        elif o.format == "onnx":
            from ..edge.runners.onnxruntime_runner import OnnxRuntimeRunner

            pipeline.export_onnx(built, tmp, o.batch_size, o.dynamic_batch, o.opset,
                                 metadata=onnx_metadata(built, spec, o))
            reference = pipeline.verify_export(built, OnnxRuntimeRunner(tmp, name=final), inputs)
        else:
            with step("compile and export AIR"):
                pipeline.export_air(built, tmp, o.batch_size)
    return ExportedFile(final, inputs, reference)


def verified_reference(exported: ExportedFile, seed: int):
    """The verification's inputs and the network's outputs, as the parity check takes them:
    nothing is computed twice."""
    from ..edge.parity import CheckInputs
    from .check import ComputedReference

    x = np.concatenate(list(exported.inputs.values()))
    desc = {"random": int(len(x)), "seed": int(seed), "count": int(len(x)),
            "shape": [int(d) for d in x.shape[1:]],
            "note": f"the export's verification inputs (batches {list(exported.inputs)})"}
    return ComputedReference(CheckInputs(x, desc),
                             np.concatenate(list(exported.reference.values())))


def onnx_metadata(built, spec, options: ExportOptions) -> dict:
    """What the .onnx carries about itself (metadata_props): preprocessing, labels, source."""
    from ..edge.bundle import load_labels, sha256_file
    from ..edge.onnx_info import toolkit_metadata
    from ..edge.versions import __version__

    labels = load_labels(options.labels) if options.labels else None
    return toolkit_metadata(built.name, spec.preprocessing(built.config.image_size),
                            options.opset, __version__, labels=labels,
                            checkpoint_sha256=sha256_file(spec.ckpt_path) if spec.ckpt_path
                            else None, weights=built.weights)


def bundle_export(built, spec, options: ExportOptions, onnx_path: str,
                  parity: Optional[dict]) -> str:
    """The edge bundle of a verified ONNX export, beside it: <model>_bundle/."""
    from .bundle_writer import BundleSource, write_bundle

    bundle_dir = os.path.join(os.path.dirname(onnx_path), f"{built.name}_bundle")
    reference = mindspore_reference(built, spec, options.seed,
                                    (("images", options.images),
                                     ("calibration", options.bundle.calib_dir)))
    source = BundleSource(built.name, built.config.to_dict(),
                          spec.preprocessing(built.config.image_size), opset=options.opset,
                          checkpoint_path=spec.ckpt_path, weights=built.weights)
    with step(f"write edge bundle {bundle_dir}"):
        write_bundle(onnx_path, bundle_dir, source, options.bundle, parity=parity,
                     reference=reference)
    return bundle_dir


def mindspore_reference(built, spec, seed: int, folders: Tuple[Tuple[str, Optional[str]], ...]):
    """(inputs, outputs, meta) for a bundle's reference.npz: seeded inputs and the real images
    in `folders` ((label, directory) pairs), through the model's preprocessing, with the
    MindSpore network's outputs on them."""
    from ..edge.compare import AGREEMENT_SAMPLES
    from ..edge.parity import seeded_input
    from ..edge.preprocess import PreprocessConfig, list_images, preprocess_batch
    from ..edge.versions import library_versions
    from .bundle_writer import reference_sample_count
    from .runners import NetworkRunner

    shape = built.input_shape
    n = reference_sample_count(shape)
    parts, names = [seeded_input((n, *shape), seed)], []
    cfg = PreprocessConfig.from_dict(spec.preprocessing(built.config.image_size))
    for label, folder in folders:
        if not folder or shape[0] != 3:
            continue
        paths = list_images(folder, recursive=True)[:AGREEMENT_SAMPLES]
        if paths:
            batch, kept, _ = preprocess_batch(paths, cfg, skip_errors=True)
            if len(kept):
                parts.append(batch)
                names += [f"{label}/{os.path.relpath(paths[i], folder)}" for i in kept]
    x = np.concatenate(parts).astype(np.float32)
    with step(f"reference: MindSpore {built.name} on {len(x)} input(s) for reference.npz"):
        out = NetworkRunner(built)(x)
    meta = {"source": "mindspore", "mindspore_version": library_versions(("mindspore",))
            ["mindspore"], "random": int(n), "seed": int(seed), "images": names}
    return x, out, meta


def _batch_kind(options: ExportOptions) -> str:
    return "dynamic batch" if options.dynamic_batch else f"batch {options.batch_size}"
