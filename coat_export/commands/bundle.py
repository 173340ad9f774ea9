"""`bundle`: an edge bundle directory (ONNX model, variants, labels, manifest.json, predict.py
and the edge runtime it runs)."""
import argparse

from ..edge.bundle import VARIANT_KEYS
from ..edge.defaults import DEFAULT_CROP_PCT, DEFAULT_INTERPOLATION, IMAGENET_MEAN, IMAGENET_STD
from .arguments import non_negative_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("onnx", metavar="MODEL.onnx", help="the fp32 ONNX model")
    p.add_argument("--output_dir", required=True, help="bundle directory to write")
    p.add_argument("--model_name", help="model name (default: the ONNX file name)")
    p.add_argument("--architecture", metavar="JSON",
                   help="JSON file with the architecture (a dict, or {'architecture': dict})")
    p.add_argument("--ckpt_path", help="checkpoint the model was exported from (sha256 recorded)")
    p.add_argument("--ema", action="store_true",
                   help="the model was exported from the checkpoint's EMA weights (recorded "
                        "in the manifest as weights: ema; default raw)")
    p.add_argument("--opset", type=int, help="expected opset (checked against the file)")
    p.add_argument("--image_size", type=int, help="default: the model's input size")
    p.add_argument("--crop_pct", type=float, default=DEFAULT_CROP_PCT,
                   help="resize to int(image_size / crop_pct) before the center crop "
                        "(default 0.9, MindCV's)")
    p.add_argument("--interpolation", default=DEFAULT_INTERPOLATION,
                   help="resize interpolation (default bicubic, MindCV's)")
    p.add_argument("--mean", type=float, nargs=3, default=IMAGENET_MEAN,
                   metavar=("R", "G", "B"), help="normalisation mean (default ImageNet's)")
    p.add_argument("--std", type=float, nargs=3, default=IMAGENET_STD,
                   metavar=("R", "G", "B"), help="normalisation std (default ImageNet's)")
    p.add_argument("--parity", metavar="JSON", help="parity results of the export (JSON file)")
    p.add_argument("--labels", help="class names, one per line (or JSON list)")
    p.add_argument("--variants", nargs="+", default=[], choices=tuple(VARIANT_KEYS),
                   help="reduced-precision variants to add, each checked against fp32")
    p.add_argument("--calib_dir", help="calibration images (needed by the static variant)")
    p.add_argument("--no_check", action="store_true", help="do not check the variants")
    p.add_argument("--bench_runs", type=non_negative_int, default=10,
                   help="time every variant in every installed runtime (batch 1, this many "
                        "interleaved rounds) and record the fastest in the manifest; 0: skip")


def _read_json(path, what):
    import json
    import os

    from ..edge.errors import UserError

    if not os.path.isfile(path):
        raise UserError(f"{what} file not found: {path}")
    try:
        with open(path, "r", encoding="utf-8") as f:
            return json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read {what} JSON {path}: {exc}") from exc


def run(args) -> int:
    import os

    from ..edge.errors import UserError
    from ..edge.preprocess import PreprocessConfig
    from ..edge.progress import say, step
    from ..host.bundle_writer import BundleOptions, BundleSource, onnx_io, write_bundle
    from .arguments import require_host

    require_host("bundle", "onnx", "onnxruntime")

    if not os.path.isfile(args.onnx):
        raise UserError(f"ONNX model not found: {args.onnx}")
    if "static" in args.variants and not args.calib_dir:
        raise UserError("the static variant needs calibration images: pass --calib_dir DIR")
    arch = None
    if args.architecture:
        arch = _read_json(args.architecture, "architecture")
        if isinstance(arch, dict) and isinstance(arch.get("architecture"), dict):
            arch = arch["architecture"]
    else:
        say("warning: no --architecture given: the manifest records none")
    parity = _read_json(args.parity, "parity") if args.parity else None
    size = args.image_size
    if size is None:
        shape = (onnx_io(args.onnx)["inputs"] or [{"shape": []}])[0]["shape"]
        size = shape[2] if len(shape) == 4 and isinstance(shape[2], int) else 224
    try:
        pre = PreprocessConfig(image_size=size, crop_pct=args.crop_pct, mean=args.mean,
                               std=args.std, interpolation=args.interpolation)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    name = args.model_name or os.path.splitext(os.path.basename(args.onnx))[0]
    with step(f"write bundle {args.output_dir}"):
        source = BundleSource(name, arch, pre, opset=args.opset, checkpoint_path=args.ckpt_path,
                              weights=("ema" if args.ema else "raw") if args.ckpt_path else None)
        options = BundleOptions(labels_file=args.labels, variants=tuple(args.variants),
                                calib_dir=args.calib_dir, check_variants=not args.no_check,
                                bench_runs=args.bench_runs)
        manifest = write_bundle(args.onnx, args.output_dir, source, options, parity=parity)
    for key, rec in manifest["variants"].items():
        c = rec.get("check")
        extra = (f": cosine {c['cosine']:.5f}, top1 agreement {c['top1_agreement']:.3f}"
                 if c else "")
        say(f"  {key:<13} {rec['file']}{extra}")
    bench = manifest.get("host_benchmark")
    if bench:
        f = bench["fastest"]
        say(f"  fastest here: {f['variant']} in {f['runtime']} ({f['median_ms']:.2f} ms at "
            "batch 1)")
    print(args.output_dir)
    return 0
