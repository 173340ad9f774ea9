"""`export`: checkpoint -> MINDIR / AIR / ONNX, each verified against the source network.

The flags are a fixed contract shared with the MindCV-style `export.py` at the repo root.
"""
import argparse
import os

from .arguments import add_ema_argument, positive_int

FORMATS = ("mindir", "air", "onnx")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--config", help="yaml config: ours (configs/) or MindCV's training yaml")
    p.add_argument("--model", help="variant name (default: the config's, else coat_lite_tiny)")
    p.add_argument("--ckpt_path", help="MindCV checkpoint (.ckpt); absent: seeded random weights")
    add_ema_argument(p)
    p.add_argument("--format", required=True, choices=FORMATS, help="output format")
    p.add_argument("--batch_size", type=positive_int, default=1, help="static batch size")
    p.add_argument("--dynamic_batch", action="store_true",
                   help="symbolic batch dimension (MINDIR/ONNX)")
    p.add_argument("--output_dir", default="./exported", help="where to write DIR/<model>.<ext>")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (13-21; default 17)")
    p.add_argument("--seed", type=int, default=0, help="seed of random weights and test inputs")
    p.add_argument("--check", action="store_true",
                   help="after exporting, run the parity check (as `check`) on the file and "
                        "write DIR/<model>.parity.json")
    p.add_argument("--bundle", action="store_true",
                   help="with --format onnx: also write the edge bundle DIR/<model>_bundle/")
    p.add_argument("--labels", help="class names, one per line: recorded in the ONNX file's "
                                    "metadata and the bundle")
    p.add_argument("--bundle_variants", nargs="+", choices=("fp16", "dynamic", "static"),
                   default=(), help="reduced-precision variants to add to the bundle")
    p.add_argument("--calib_dir", help="calibration images for the 'static' int8 variant")
    p.add_argument("--images", metavar="DIR",
                   help="with --bundle: real images (searched recursively) whose MindSpore "
                        "outputs the bundle records in reference.npz, beside seeded inputs")


def run(args) -> int:
    from .arguments import require_host

    require_host("export", "mindspore", "onnx", "yaml")
    from ..edge.atomic import output_dir
    from ..host.config import build_config, resolve_spec
    from ..edge.errors import UserError
    from ..edge.progress import say

    spec = resolve_spec(args.config, args.model, args.ckpt_path, ema=args.ema)
    build_config(spec)  # unknown model / bad architecture: fail before any work
    if args.dynamic_batch and args.format == "air":
        raise UserError("--dynamic_batch is not available for AIR; export a static batch size")
    if args.dynamic_batch and args.batch_size != 1:
        say("note: --dynamic_batch given: --batch_size is ignored")
    if args.format == "onnx":
        from converters import ConversionError, check_opset

        try:
            check_opset(args.opset)
        except ConversionError as exc:
            raise UserError(f"--opset: {exc}") from None

    from ..host import pipeline

    if args.check and args.format == "air":
        raise UserError("--check needs a MINDIR or ONNX export (AIR runs only on Ascend)")
    if (args.bundle_variants or args.images) and not args.bundle:
        raise UserError("--bundle_variants and --images belong to --bundle")
    if args.labels and args.format != "onnx":
        raise UserError("--labels go into the ONNX file's metadata and its bundle: "
                        "--format onnx")
    if args.labels and not os.path.isfile(args.labels):
        raise UserError(f"labels file not found: {args.labels}")
    if args.bundle:
        if args.format != "onnx":
            raise UserError("--bundle needs --format onnx (a bundle is for ONNX Runtime)")
        if args.labels and not os.path.isfile(args.labels):
            raise UserError(f"labels file not found: {args.labels}")
        if args.images and not os.path.isdir(args.images):
            raise UserError(f"--images: not a directory: {args.images}")
        if "static" in args.bundle_variants and not args.calib_dir:
            raise UserError("the 'static' bundle variant needs calibration images: --calib_dir")
    if args.format == "air":
        pipeline.check_air_supported(pipeline.current_device_target())
    with output_dir(args.output_dir) as out_dir:
        return _export(args, spec, out_dir)


def _export(args, spec, out_dir: str) -> int:
    """Build, export, verify; then --check and --bundle (see run)."""
    from ..edge.atomic import atomic_model_path, output_lock
    from ..edge.progress import step
    from ..host import pipeline

    built = pipeline.build_model(spec, seed=args.seed)
    final = os.path.join(out_dir, f"{built.name}.{args.format}")
    kind = "dynamic batch" if args.dynamic_batch else f"batch {args.batch_size}"
    inputs = pipeline.verification_inputs(built, args.batch_size, args.dynamic_batch, args.seed)
    reference = None
    # the file is written under its final name in a private folder (companions such as ONNX
    # external data keep the names the model records), verified there, then moved into place
    with output_lock(final), atomic_model_path(final) as tmp:
        if args.format == "mindir":
            from ..host.runners import MindirRunner

            with step(f"compile and export MINDIR ({kind})"):
                pipeline.export_mindir(built, tmp, args.batch_size, args.dynamic_batch)
            reference = pipeline.verify_export(built, MindirRunner(tmp, name=final), inputs)
        elif args.format == "onnx":
            from ..edge.runners.onnxruntime_runner import OnnxRuntimeRunner

            pipeline.export_onnx(built, tmp, args.batch_size, args.dynamic_batch, args.opset,
                                 metadata=_onnx_metadata(args, built, spec))
            reference = pipeline.verify_export(built, OnnxRuntimeRunner(tmp, name=final), inputs)
        else:
            with step("compile and export AIR"):
                pipeline.export_air(built, tmp, args.batch_size)
    print(final)
    parity_path = os.path.join(out_dir, f"{built.name}.parity.json")
    if args.check:
        import numpy as np

        from ..edge.parity import CheckInputs
        from .check import run_and_report

        # the verification's inputs and reference outputs: nothing is computed twice
        x = np.concatenate(list(inputs.values()))
        desc = {"random": int(len(x)), "seed": int(args.seed), "count": int(len(x)),
                "shape": [int(d) for d in x.shape[1:]],
                "note": f"the export's verification inputs (batches {list(inputs)})"}
        status = run_and_report(built, spec, [final], parity_path, seed=args.seed,
                                inputs=CheckInputs(x, desc),
                                reference_out=np.concatenate(list(reference.values())))
        if status:
            return status
    if args.bundle:
        _write_bundle(args, built, spec, final, parity_path if args.check else None)
    return 0


def _write_bundle(args, built, spec, onnx_path: str, parity_path) -> None:
    import json

    from ..host.bundle_writer import write_bundle
    from ..edge.progress import step

    bundle_dir = os.path.join(os.path.dirname(onnx_path), f"{built.name}_bundle")
    parity = json.load(open(parity_path, encoding="utf-8")) if parity_path else None
    reference = _mindspore_reference(args, built, spec)
    with step(f"write edge bundle {bundle_dir}"):
        write_bundle(onnx_path, bundle_dir, built.name, built.config.to_dict(),
                     checkpoint_path=spec.ckpt_path, opset=args.opset,
                     preprocessing=spec.preprocessing(built.config.image_size), parity=parity,
                     labels_file=args.labels, variants=args.bundle_variants,
                     calib_dir=args.calib_dir, weights=built.weights, reference=reference)
    print(bundle_dir)


def _onnx_metadata(args, built, spec) -> dict:
    """What the .onnx carries about itself (metadata_props): preprocessing, labels, source."""
    from ..edge.bundle import load_labels, sha256_file
    from ..edge.onnx_info import toolkit_metadata
    from ..edge.versions import __version__

    labels = load_labels(args.labels) if args.labels else None
    return toolkit_metadata(built.name, spec.preprocessing(built.config.image_size), args.opset,
                            __version__, labels=labels,
                            checkpoint_sha256=sha256_file(spec.ckpt_path) if spec.ckpt_path
                            else None, weights=built.weights)


def _mindspore_reference(args, built, spec):
    """(inputs, outputs, meta) for the bundle's reference.npz: seeded inputs and the real
    images given (--images, then --calib_dir), through the model's preprocessing, with the
    MindSpore network's outputs on them."""
    import numpy as np

    from ..edge.compare import AGREEMENT_SAMPLES
    from ..edge.parity import seeded_input
    from ..edge.preprocess import PreprocessConfig, list_images, preprocess_batch
    from ..edge.progress import step
    from ..edge.versions import library_versions
    from ..host.bundle_writer import reference_sample_count
    from ..host.runners import NetworkRunner

    shape = built.input_shape
    n = reference_sample_count(shape)
    parts, names = [seeded_input((n, *shape), args.seed)], []
    cfg = PreprocessConfig.from_dict(spec.preprocessing(built.config.image_size))
    for label, folder in (("images", args.images), ("calibration", args.calib_dir)):
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
            ["mindspore"], "random": int(n), "seed": int(args.seed), "images": names}
    return x, out, meta
