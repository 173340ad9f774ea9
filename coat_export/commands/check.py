"""`check`: do exported files compute what the trained network computes?

    check [-c CONFIG] [--model NAME] [--ckpt_path PATH] FILE [FILE ...]    (host: MindSpore)
    check --reference REF.onnx FILE [FILE ...]                              (edge)
    check BUNDLE                                                            (edge)

The reference is the MindSpore network (host), an fp32 ONNX model (--reference), or a
bundle's fp32 model, whose variants and runtimes are the candidates. Every ONNX file runs in
each --runtime. Exit status: 0 every comparison passes, 1 one fails, 2 bad usage (missing or
unreadable file or image, a file of another model). The Markdown table goes to stdout,
progress to stderr, the JSON report (atomically) to --report.
"""
import argparse
import os
from dataclasses import replace

from .arguments import (add_gate_arguments, add_localisation_arguments,
                        add_model_source_arguments, add_runtime_arguments, names_network,
                        non_negative_int)
from .reporting import report_result, save_reference


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", metavar="FILE", nargs="+",
                   help=".onnx or .mindir file(s) to check, or a bundle directory")
    p.add_argument("--reference", metavar="REF",
                   help="compare with this fp32 ONNX model, or with the inputs and outputs "
                        "recorded in REF.npz (--save_reference), instead of the MindSpore "
                        "network (no MindSpore needed)")
    p.add_argument("--save_reference", metavar="REF.npz",
                   help="also write the inputs and the reference's outputs of this run, to "
                        "replay the check elsewhere with --reference REF.npz")
    add_model_source_arguments(
        p, config_help="yaml config: ours (configs/) or MindCV's training yaml",
        model_help="variant name (default: the config's, else coat_lite_tiny)",
        ckpt_help="MindCV checkpoint (.ckpt) the files were exported from; absent: seeded "
                  "random weights (as export.py without --ckpt_path)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of random weights (without --ckpt_path) and of random inputs")
    p.add_argument("--images", metavar="DIR",
                   help="also feed the images under DIR (searched recursively; MindCV eval "
                        "preprocessing at the model's image size)")
    p.add_argument("--num_samples", type=non_negative_int,
                   help="seeded random inputs (default: 4 for fp32 candidates, 64 when one is "
                        "fp16/bf16/int8, judged by agreement; with --images: the images, "
                        "topped up to 64 for those)")
    p.add_argument("--report", metavar="PATH", help="write the JSON report here")
    add_runtime_arguments(p)
    add_gate_arguments(p)
    add_localisation_arguments(p)


def _edge_check(args) -> int:
    """--reference REF.onnx FILE..., or one bundle: no MindSpore."""
    from ..edge.errors import UserError
    from ..edge.check_inputs import make_inputs
    from ..edge.parity import CHECK_CHUNK, FailedCandidate, check_shapes, compare_runners
    from ..edge.bundle import is_bundle, open_bundle
    from ..edge.progress import step
    from ..edge.runtimes import open_onnx_runner
    from ..edge.sources import resolve_onnx
    from ..edge.options import GateOptions, InputOptions, RuntimeOptions
    from ..host.open_models import open_runners

    runtime = RuntimeOptions.from_args(args)
    if names_network(args):
        raise UserError("--reference compares with an ONNX model: -c/--model/--ckpt_path "
                        "belong to the MindSpore reference")
    preprocessing = None
    if args.reference and args.reference.lower().endswith(".npz"):
        return _recorded_check(args)
    if args.reference:
        ref_model = resolve_onnx(args.reference)
        if ref_model.precision != "fp32":
            raise UserError(f"--reference {args.reference} is a {ref_model.precision} model; "
                            "the reference must be fp32")
        candidates = open_runners(args.files, runtime, keep_failed=True)
        model_name = os.path.basename(args.reference)
    else:
        if len(args.files) != 1 or not is_bundle(args.files[0]):
            raise UserError("without -c/--model (MindSpore) or --reference REF.onnx, check "
                            "takes one bundle directory")
        bundle_dir = args.files[0]
        bundle = open_bundle(bundle_dir)
        ref_model = resolve_onnx(bundle_dir, "fp32")
        preprocessing = bundle.preprocessing
        from ..edge.preprocess import PreprocessConfig
        try:    # the bundle's own preprocessing feeds --images: refuse a bad one up front
            PreprocessConfig.from_dict(preprocessing)
        except ValueError as exc:
            raise UserError(f"bad preprocessing in the manifest of {bundle_dir}: {exc}") \
                from exc
        candidates = []
        for key in bundle.variants:
            runtimes = tuple(r for r in runtime.runtimes
                             if not (key == "fp32" and r == "onnxruntime"))  # the reference
            if not runtimes:
                continue
            candidates += open_runners([bundle_dir], replace(runtime, runtimes=runtimes),
                                       variant=key, keep_failed=True)
        if not candidates:
            raise UserError("nothing to compare: the bundle has only its fp32 model; add "
                            "--runtime openvino to compare runtimes")
        model_name = (bundle.manifest.get("model") or {}).get("name") or bundle_dir
    reference = open_onnx_runner(ref_model, "onnxruntime", provider=runtime.provider,
                                 threads=runtime.threads)
    if reference.image_size is None:
        raise UserError(f"{reference.name} has no static image input shape {reference.input.shape}")
    for c in candidates:
        if not isinstance(c, FailedCandidate):
            check_shapes(reference, c)
    shape = [d for d in reference.input.shape[1:]]
    inputs = make_inputs(shape, preprocessing, InputOptions.from_args(args),
                         precisions=[c.precision for c in candidates])
    with step(f"reference: {reference.describe()} on {len(inputs.array)} input(s)"):
        ref_out = reference(inputs.array, max_batch=CHECK_CHUNK)
    result = compare_runners(reference, ref_out, candidates, inputs.array, model=model_name,
                             inputs_desc=inputs.description, gates=GateOptions.from_args(args))
    if not args.reference:
        fp32 = [reference] if "onnxruntime" in runtime.runtimes else []
        _add_recorded(result, bundle, fp32 + candidates, runtime.runtimes)
    if args.save_reference:
        save_reference(result, args.save_reference)
    return report_result(result, args.report)


def _add_recorded(result, bundle, runners, runtimes) -> None:
    """check BUNDLE: the runners already opened (every variant x runtime) also against
    MindSpore's recorded outputs."""
    from ..edge.progress import say
    from ..edge.selftest import run_selftest

    if not bundle.manifest.get("reference"):
        say(f"note: {bundle.directory} holds no recorded reference (an older bundle): only "
            "the variants against its fp32 model are compared")
        return
    recorded = run_selftest(bundle.directory, runtimes, runners=runners)
    result.results += recorded.results
    for k, v in recorded.tolerances.items():
        result.tolerances.setdefault(k, v)
    result.recorded_inputs = recorded.inputs


def _recorded_check(args) -> int:
    """check --reference REF.npz FILE...: candidates against recorded inputs and outputs."""
    from ..edge.bundle import read_regular_file
    from ..edge.errors import UserError
    from ..edge.parity import FailedCandidate, compare_runners
    from ..edge.reference import MAX_REFERENCE_BYTES, RecordedRunner, load_reference
    from ..edge.options import GateOptions, RuntimeOptions
    from ..host.open_models import open_runners

    data = read_regular_file(args.reference, "reference file", max_bytes=MAX_REFERENCE_BYTES,
                             follow_links=True)
    ref = load_reference(data, args.reference)
    if args.images or args.num_samples:
        raise UserError("--reference REF.npz replays its recorded inputs: --images and "
                        "--num_samples do not apply")
    recorded = RecordedRunner(ref, f"{ref.source} (recorded in "
                                   f"{os.path.basename(args.reference)})")
    candidates = open_runners(args.files, RuntimeOptions.from_args(args), keep_failed=True)
    for c in candidates:
        if not isinstance(c, FailedCandidate):
            recorded.check_candidate(c)
    result = compare_runners(recorded, ref.outputs, candidates, ref.inputs,
                             model=str(ref.meta.get("model") or args.reference),
                             checkpoint=ref.meta.get("checkpoint"),
                             inputs_desc=ref.description(), gates=GateOptions.from_args(args))
    result.weights = ref.meta.get("weights")
    if args.save_reference:
        save_reference(result, args.save_reference)
    return report_result(result, args.report)


def run(args) -> int:
    from ..edge.atomic import check_writable_file
    from ..edge.errors import UserError
    from ..edge.sources import model_format

    for f in args.files:  # missing files and unknown formats: before building anything
        model_format(f)
    if args.images and not os.path.isdir(args.images):
        raise UserError(f"--images: not a directory: {args.images}")
    if args.num_samples == 0 and not args.images:
        raise UserError("--num_samples 0 without --images: nothing to compare")
    if args.report:
        check_writable_file(args.report, "--report")
    if args.save_reference:
        check_writable_file(args.save_reference, "--save_reference")
    if args.reference or (not names_network(args)
                          and len(args.files) == 1 and model_format(args.files[0]) == "bundle"):
        return _edge_check(args)

    from .arguments import model_spec, node_tolerance, require_host

    require_host("checking against the MindSpore network (or give --reference REF.onnx)",
                 "mindspore", "onnx")
    from ..edge.options import GateOptions, InputOptions, RuntimeOptions
    from ..host.check import run_check
    from ..host.config import build_model

    spec = model_spec(args)
    for f in args.files:
        if model_format(f) == "bundle":
            raise UserError(f"{f} is a bundle directory: check it on its own (check {f}), "
                            "or give its .onnx files")
    built = build_model(spec, seed=args.seed)
    result = run_check(built, spec, args.files, InputOptions.from_args(args),
                       GateOptions.from_args(args), RuntimeOptions.from_args(args),
                       node_tolerance(args))
    if args.save_reference:
        save_reference(result, args.save_reference)
    return report_result(result, args.report)
