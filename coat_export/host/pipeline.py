"""The export pipeline: the built network (`host.config.build_model`) -> MINDIR / AIR / ONNX,
verified (`host.verify`).

`export_verified` owns, for every format alike, the output lock, the atomic write (the file
and its companions are written under their final names in a private folder and moved into
place only once verified) and the verification against the source network; the command
(`commands.export`) only parses (`host.export_options`), validates, runs this and reports.
"""
import os
from dataclasses import dataclass
from typing import Dict, Optional

import numpy as np

from ..edge.errors import UserError
from ..edge.progress import say, step
from .config import BuiltModel
from .export_options import ExportOptions
from .mindspore_import import import_mindspore
from .verify import verify_export


def export_mindir(built: BuiltModel, path: str, batch_size: int = 1,
                  dynamic_batch: bool = False) -> None:
    """Write `path` (.mindir) with a static or symbolic batch dimension."""
    ms = import_mindspore()
    if dynamic_batch:
        example = ms.Tensor(shape=[None, *built.input_shape], dtype=ms.float32)
    else:
        example = ms.Tensor(np.zeros((batch_size, *built.input_shape), np.float32))
    base = path[:-len(".mindir")] if path.endswith(".mindir") else path
    ms.export(built.network, example, file_name=base, file_format="MINDIR")
    if not os.path.isfile(base + ".mindir"):
        raise UserError(f"MindSpore did not write {base}.mindir")


# ----------------------------------------------------------------------------- AIR


def export_air(built: BuiltModel, path: str, batch_size: int) -> None:
    ms = import_mindspore()
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
    for note in result.notes:
        say(f"     note: {note}")
    return result


def _batch_kind(batch_size: int, dynamic_batch: bool) -> str:
    return "dynamic batch" if dynamic_batch else f"batch {batch_size}"


# ----------------------------------------------------------------------------- the pipeline


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
        if o.format == "air":
            with step("compile and export AIR"):
                export_air(built, tmp, o.batch_size)
        elif o.format == "mindir":
            with step(f"compile and export MINDIR ({_batch_kind(o.batch_size, o.dynamic_batch)})"):
                export_mindir(built, tmp, o.batch_size, o.dynamic_batch)
        else:
            export_onnx(built, tmp, o.batch_size, o.dynamic_batch, o.opset,
                        metadata=onnx_metadata(built, spec, o))
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
