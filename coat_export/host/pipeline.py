"""The export pipeline: checkpoint -> MindSpore network -> MINDIR / AIR / ONNX, verified.

`export_verified` owns, for every format alike, the output lock, the atomic write (the file
and its companions are written under their final names in a private folder and moved into
place only once verified) and the verification against the source network; the command
(`commands.export`) only parses, validates, runs this and reports. Imports MindSpore when a
network is built.
"""
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from ..edge.compare import Comparison, compare_arrays, tolerance_for
from ..edge.parity import seeded_input
from .bundle_writer import BundleOptions
from .config import ModelSpec, build_config
from ..edge.errors import UserError, VerificationError, first_line
from ..edge.progress import say, step

DYNAMIC_CHECK_BATCHES = (1, 3, 8)
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def _mindspore():
    from .runners import import_mindspore

    return import_mindspore()


@dataclass
class BuiltModel:
    name: str
    config: object  # model.CoaTConfig
    network: object  # model.CoaT, in inference mode
    ckpt_path: Optional[str]
    load_info: Dict[str, object] = field(default_factory=dict)

    @property
    def weights(self) -> Optional[str]:
        """'raw' or 'ema' (which checkpoint entries are the network); None: random weights."""
        return self.load_info.get("weights") if self.ckpt_path else None

    @property
    def input_shape(self):
        c = self.config
        return (c.in_channels, c.image_size, c.image_size)


def build_model(spec: ModelSpec, seed: int = 0) -> BuiltModel:
    """Build the network and load its checkpoint strictly (or seeded random weights)."""
    if not _NAME_RE.match(spec.name):
        raise UserError(f"model name '{spec.name}' must use only letters, digits, '_', '.', '-'")
    config = build_config(spec)
    if spec.ckpt_path and not os.path.isfile(spec.ckpt_path):
        raise UserError(f"checkpoint not found: {spec.ckpt_path}")
    ms = _mindspore()
    from ..model import CheckpointError, create_model, load_checkpoint_strict

    with step(f"build {spec.name}"):
        ms.set_seed(seed)
        net = create_model(config)
        net.set_train(False)
    info: Dict[str, object] = {}
    if spec.ckpt_path:
        with step(f"load checkpoint {spec.ckpt_path}"):
            try:
                info = load_checkpoint_strict(net, spec.ckpt_path, ema=bool(spec.ema))
            except CheckpointError as exc:
                raise UserError(str(exc)) from exc
        if info["weights"] == "ema":
            say(f"note: the network is the checkpoint's EMA weights (ema.*), as MindCV's "
                "validate.py loads them for ema: True")
        elif info["has_ema"]:
            say("note: the checkpoint also holds EMA weights (ema.*); the raw weights are "
                "used: --ema (or ema: True in the yaml) selects the EMA ones, which MindCV "
                "validates")
        if info.get("raw_weights_saved_as") and info["weights"] == "raw":
            say(f"note: the raw weights were saved as {info['raw_weights_saved_as']} (MindSpore "
                "names them so under gradient accumulation); read from there")
        if info.get("dropped_summary"):
            say(f"note: dropped training state: {info['dropped_summary']}")
    else:
        say(f"warning: no --ckpt_path: {spec.name} has RANDOM weights (seed {seed}); the export "
            "is only good for testing the pipeline")
    return BuiltModel(spec.name, config, net, spec.ckpt_path, info)


def run_network(net, x: np.ndarray) -> np.ndarray:
    ms = _mindspore()
    return net(ms.Tensor(x)).asnumpy()


def export_mindir(built: BuiltModel, path: str, batch_size: int = 1,
                  dynamic_batch: bool = False) -> None:
    """Write `path` (.mindir) with a static or symbolic batch dimension."""
    ms = _mindspore()
    if dynamic_batch:
        example = ms.Tensor(shape=[None, *built.input_shape], dtype=ms.float32)
    else:
        example = ms.Tensor(np.zeros((batch_size, *built.input_shape), np.float32))
    base = path[:-len(".mindir")] if path.endswith(".mindir") else path
    ms.export(built.network, example, file_name=base, file_format="MINDIR")
    if not os.path.isfile(base + ".mindir"):
        raise UserError(f"MindSpore did not write {base}.mindir")


def verification_inputs(built: BuiltModel, batch_size: int, dynamic_batch: bool,
                        seed: int = 0) -> Dict[int, np.ndarray]:
    """The seeded inputs an export is verified on: its batch, or 1, 3 and 8 when dynamic."""
    batches = DYNAMIC_CHECK_BATCHES if dynamic_batch else (batch_size,)
    return {b: seeded_input((b, *built.input_shape), seed) for b in batches}


def verify_export(built: BuiltModel, path: str, name: str, options: "ExportOptions"):
    """Run the exported file at `path` (reported as `name`) in its runtime and compare it with
    the source network, one call per batch size (whole batches: a dynamic-batch file must take
    every one of them). Prints the figures; VerificationError when one departs. Returns the
    inputs and the network's outputs as an edge.parity.ComputedReference (export --check
    reuses them: nothing is computed twice)."""
    from ..edge.parity import CheckInputs, ComputedReference
    from ..edge.runners.onnxruntime_runner import OnnxRuntimeRunner
    from .runners import MindirRunner, NetworkRunner

    inputs = verification_inputs(built, options.batch_size, options.dynamic_batch, options.seed)
    opener = MindirRunner if options.format == "mindir" else OnnxRuntimeRunner
    candidate = opener(path, name=name)
    source = NetworkRunner(built)
    with step("reference: the source network on the verification inputs"):
        reference = {b: source(x) for b, x in inputs.items()}
    runtime = {"mindspore": "MindSpore (GraphCell)", "onnxruntime": "ONNX Runtime"}
    batches = ", ".join(map(str, inputs))
    results: List[Comparison] = []
    with step(f"verify: {runtime.get(candidate.runtime, candidate.runtime)} runs the new file "
              f"at batch{'es' if len(inputs) > 1 else ''} {batches}; compare with the source "
              "network"):
        for b, x in inputs.items():
            try:
                out = candidate.infer(x)
            except UserError:
                raise
            except Exception as exc:
                raise VerificationError(f"{candidate.name} cannot run a batch of {b}: "
                                        f"{first_line(exc)}; the file was removed") from exc
            results.append(compare_arrays(reference[b], out, reference_name="mindspore",
                                          candidate_name=f"{os.path.basename(candidate.name)}"
                                                         f"[batch={b}]",
                                          output_name="logits",
                                          tolerance=tolerance_for("fp32")))
        for r in results:
            verdict = "ok" if r.passed else "FAILED: " + "; ".join(r.failures)
            say(f"     {r.candidate} vs {r.reference}: max_abs_diff={r.max_abs_diff:.2e} "
                f"cosine={r.cosine:.8f} top1={r.top1_agreement:.2f} -> {verdict}")
        failed = [r for r in results if not r.passed]
        if failed:
            raise VerificationError(f"{failed[0].candidate} does not match the source "
                                    f"network ({'; '.join(failed[0].failures)}); the file was "
                                    "removed")
    x = np.concatenate(list(inputs.values()))
    desc = {"random": int(len(x)), "seed": int(options.seed), "count": int(len(x)),
            "shape": [int(d) for d in x.shape[1:]],
            "note": f"the export's verification inputs (batches {list(inputs)})"}
    return ComputedReference(CheckInputs(x, desc), np.concatenate(list(reference.values())))


# ----------------------------------------------------------------------------- AIR


def current_device_target() -> str:
    ms = _mindspore()
    return str(ms.get_context("device_target"))


def check_air_supported(device_target: str) -> None:
    """AIR export needs MindSpore's Ascend backend; say so, and what to use instead."""
    if device_target != "Ascend":
        raise UserError(f"AIR export needs an Ascend device with CANN installed (MindSpore's "
                        f"device target here is {device_target}); use --format mindir for Ascend "
                        "inference (ATC/MindSpore Lite accept MINDIR) or --format onnx elsewhere")


def export_air(built: BuiltModel, path: str, batch_size: int) -> None:
    ms = _mindspore()
    example = ms.Tensor(np.zeros((batch_size, *built.input_shape), np.float32))
    base = path[:-len(".air")] if path.endswith(".air") else path
    ms.export(built.network, example, file_name=base, file_format="AIR")


# ----------------------------------------------------------------------------- ONNX


def export_onnx(built: BuiltModel, path: str, batch_size: int = 1, dynamic_batch: bool = False,
                opset: int = 17, metadata: Optional[Dict[str, str]] = None):
    """Checkpoint network -> MINDIR (temporary) -> ONNX at `path`. Returns the conversion."""
    from .. import converters

    from ..edge.atomic import scratch_dir

    with scratch_dir("export") as tmp:
        mindir = os.path.join(tmp, f"{built.name}.mindir")
        with step(f"compile and export MINDIR ({_batch_kind(batch_size, dynamic_batch)})"):
            export_mindir(built, mindir, batch_size, dynamic_batch)
        with step(f"convert MINDIR -> ONNX (opset {opset})"):
            try:
                result = converters.convert(mindir, path, opset=opset,
                                            dynamic_batch=dynamic_batch, metadata=metadata)
            except converters.ConversionError as exc:
                raise UserError(f"ONNX conversion failed: {exc}") from exc
    say(f"     {result.mindir_nodes} MindSpore nodes -> {result.onnx_nodes} ONNX nodes, "
        f"{result.initializers} initializers")
    return result


def _batch_kind(batch_size: int, dynamic_batch: bool) -> str:
    return "dynamic batch" if dynamic_batch else f"batch {batch_size}"


# ----------------------------------------------------------------------------- the pipeline


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


@dataclass
class ExportedFile:
    """A written, verified export and what it was verified on: the seeded inputs and the
    network's outputs on them, as the parity check takes them (export --check computes
    nothing twice); None for AIR, which is not verified here."""

    path: str
    verified_on: Optional[object]   # edge.parity.ComputedReference


def export_verified(built, spec, options: ExportOptions, out_dir: str) -> ExportedFile:
    """Export `built` as out_dir/<model>.<format>, verified against the network before it
    replaces anything (AIR, which runs only on Ascend, is written unverified)."""
    from ..edge.atomic import atomic_model_path, output_lock

    o = options
    final = os.path.join(out_dir, f"{built.name}.{o.format}")
    verified = None
    # the file is written under its final name in a private folder (companions such as ONNX
    # external data keep the names the model records), verified there, then moved into place
    with output_lock(final), atomic_model_path(final) as tmp:
        if o.format == "mindir":
            with step(f"compile and export MINDIR ({_batch_kind(o.batch_size, o.dynamic_batch)})"):
                export_mindir(built, tmp, o.batch_size, o.dynamic_batch)
        elif o.format == "onnx":
            export_onnx(built, tmp, o.batch_size, o.dynamic_batch, o.opset,
                        metadata=onnx_metadata(built, spec, o))
        else:
            with step("compile and export AIR"):
                export_air(built, tmp, o.batch_size)
        if o.format != "air":
            verified = verify_export(built, tmp, final, o)
    return ExportedFile(final, verified)


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
