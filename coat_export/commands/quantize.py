"""`quantize`: fp16 / int8 (dynamic, static) variants of an fp32 ONNX model, checked against it."""
import argparse

from ..edge.bundle import CALIBRATION_METHODS, VARIANT_KEYS
from ..edge.runtimes import RUNTIMES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="IN.onnx", help="fp32 ONNX model")
    p.add_argument("output", metavar="OUT.onnx", help="where to write the variant")
    p.add_argument("--mode", required=True, choices=tuple(VARIANT_KEYS),
                   help="fp16, int8 dynamic, or int8 static (needs --calib_dir)")
    p.add_argument("--calib_dir", help="images for static calibration (searched recursively); "
                                       "also used as check inputs")
    p.add_argument("--calib_limit", type=int, default=128,
                   help="at most this many calibration images (default 128)")
    p.add_argument("--manifest", help="manifest.json with the model's preprocessing "
                                      "(default: the one beside IN.onnx, else MindCV defaults)")
    p.add_argument("--calibrate", default="minmax", choices=CALIBRATION_METHODS,
                   help="static calibration method (default minmax)")
    p.add_argument("--runtime", choices=RUNTIMES, default="onnxruntime",
                   help="the runtime the variant is for: picks the fastest measured static "
                        "recipe for it and runs the agreement check there (default onnxruntime)")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--per_tensor", dest="per_channel", action="store_false", default=None,
                         help="per-tensor int8 weights (default: the recipe's)")
    weights.add_argument("--per_channel", dest="per_channel", action="store_true",
                         help="per-channel int8 weights (default: the recipe's)")
    p.add_argument("--no_check", action="store_true",
                   help="skip the agreement check against the fp32 model")
    p.add_argument("--force", action="store_true",
                   help="write the model even when it fails the agreement gates (for latency "
                        "studies on untrained weights); the failed gates go in the report")
    p.add_argument("--json", metavar="PATH", help="write the result as JSON")


def _preprocess(args):
    """The model's preprocessing from --manifest (a manifest.json or a bundle directory), else
    from a manifest.json beside IN.onnx, else None (MindCV defaults at the graph's size)."""
    import os

    from ..edge.bundle import MANIFEST_NAME, open_bundle
    from ..edge.errors import UserError
    from ..edge.preprocess import PreprocessConfig

    path = args.manifest
    if path is None:
        beside = os.path.join(os.path.dirname(os.path.abspath(args.input)), MANIFEST_NAME)
        path = beside if os.path.isfile(beside) else None
    if path is None:
        return None
    if os.path.isdir(path):
        bundle_dir = path
    elif os.path.basename(path) == MANIFEST_NAME:
        bundle_dir = os.path.dirname(os.path.abspath(path))
    else:
        raise UserError(f"--manifest expects a {MANIFEST_NAME} or a bundle directory, got {path}")
    try:
        return PreprocessConfig.from_dict(open_bundle(bundle_dir).preprocessing)
    except ValueError as exc:
        raise UserError(f"bad preprocessing in {bundle_dir}/{MANIFEST_NAME}: {exc}") from exc


def _report(result) -> None:
    from ..edge.progress import say

    mb = 1024 * 1024
    say(f"{result.mode}: {result.method}")
    say(f"  converted in {result.seconds:.1f}s, {result.input_bytes / mb:.2f} MB -> "
        f"{result.output_bytes / mb:.2f} MB")
    for n in result.notes:
        say(f"  note: {n}")
    c = result.check
    if c is not None:
        say(f"  check vs fp32 on {result.check_inputs}: cosine {c.cosine:.5f}, "
            f"top1 agreement {c.top1_agreement:.3f}, top5 agreement {c.top5_agreement:.3f}, "
            f"max |diff| {c.max_abs_diff:.4g} -> {'PASS' if c.passed else 'FAIL'}")
    if result.validated_on:
        v = result.validated_on
        say(f"  validated in {v['runtime']} on {v['cpu']}; INT8 agreement depends on the "
            "instruction set: run `coat-export check` on the device")


def run(args) -> int:
    import json

    from ..edge.atomic import check_writable_file, write_text
    from ..edge.errors import UserError, VerificationError
    from ..edge.progress import say, step
    from ..host.quantize import QuantizeOptions, quantize_model
    from .arguments import require_host

    require_host("quantize", "onnx", "onnxruntime")
    if args.json:
        check_writable_file(args.json, "--json")

    if args.mode == "static" and not args.calib_dir:
        raise UserError("static quantization needs calibration images: pass --calib_dir DIR")
    if args.calib_limit < 1:
        raise UserError("--calib_limit must be >= 1")
    options = QuantizeOptions(args.mode, calib_dir=args.calib_dir, preprocess=_preprocess(args),
                              check=not args.no_check, per_channel=args.per_channel,
                              calib_limit=args.calib_limit, runtime=args.runtime,
                              calibrate=args.calibrate, force=args.force)
    try:
        with step(f"quantize {args.input} ({args.mode})"):
            result = quantize_model(args.input, args.output, options)
    except VerificationError as exc:
        if getattr(exc, "result", None) is not None:
            _report(exc.result)
        raise
    _report(result)
    if result.forced:
        say(f"warning: {args.output} fails the agreement gates and was written only because "
            "of --force; do not deploy it")
    if args.json:
        write_text(args.json, json.dumps(result.to_dict(), indent=1) + "\n")
    print(result.output_path)
    return 0
