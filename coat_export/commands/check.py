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

from .arguments import (add_ema_argument, add_runtime_arguments, non_negative_float,
                        non_negative_int)


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
    p.add_argument("-c", "--config", help="yaml config: ours (configs/) or MindCV's training yaml")
    p.add_argument("--model", help="variant name (default: the config's, else coat_lite_tiny)")
    p.add_argument("--ckpt_path", help="MindCV checkpoint (.ckpt) the files were exported from; "
                   "absent: seeded random weights (as export.py without --ckpt_path)")
    add_ema_argument(p)
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
    p.add_argument("--atol", type=non_negative_float,
                   help="fp32: |difference| of logits must be <= atol + rtol * |reference| "
                        "(default atol 1e-4; off for fp16/int8)")
    p.add_argument("--rtol", type=non_negative_float,
                   help="relative part of the fp32 bound above (default 0)")
    p.add_argument("--min_cosine", type=non_negative_float,
                   help="minimum cosine similarity of logits (fp32 0.99999, fp16 0.999, "
                        "bf16 0.995, int8 0.98)")
    p.add_argument("--min_top1", type=non_negative_float,
                   help="minimum top-1 agreement (fp32 1.0, fp16 0.95, int8 0.85)")
    p.add_argument("--node_rtol", type=non_negative_float, default=None,
                   help="first-divergence search (host): a node departs when max|diff| > "
                        "node_atol + node_rtol * max|MindSpore value| (default 1e-3)")
    p.add_argument("--node_atol", type=non_negative_float, default=None,
                   help="see --node_rtol (default 1e-5)")
    p.add_argument("--no_localize", action="store_true",
                   help="do not search for the first diverging node of a failing ONNX file")


def save_reference(result, path: str) -> None:
    """The run's inputs and reference outputs as a replayable reference file."""
    from ..edge.atomic import write_bytes
    from ..edge.progress import say
    from ..edge.reference import reference_bytes

    ref = result.reference
    source = "mindspore" if ref.get("runtime") == "mindspore" else (
        f"{ref.get('runtime')} ({os.path.basename(str(ref.get('name')))})")
    meta = {"source": source, "model": result.model, "checkpoint": result.checkpoint,
            "weights": result.weights, "versions": result.versions,
            "cpu": result.cpu.get("line"), "inputs": result.inputs}
    write_bytes(path, reference_bytes(result.inputs_array, result.reference_out, meta))
    say(f"reference: {len(result.inputs_array)} inputs and {source}'s outputs -> {path}")


def report_result(result, report_path=None, save_reference_path=None) -> int:
    """Print the Markdown table, write the JSON report; 0 when every comparison passed."""
    from ..edge.progress import say
    from ..edge.report import build_report, to_markdown, write_report

    if save_reference_path:
        save_reference(result, save_reference_path)
    report = build_report(result)
    print(to_markdown(report), end="", flush=True)
    if report_path:
        write_report(report_path, report)
        say(f"report: {report_path}")
    if not result.passed:
        failed = [r for r in result.results if not r.passed]
        say(f"parity check FAILED for "
            f"{', '.join(f'{os.path.basename(r.path)} ({r.runtime})' for r in failed)}")
        return 1
    return 0


def run_and_report(built, spec, files, report_path=None, save_reference_path=None,
                   **options) -> int:
    """Check `files` against the MindSpore network `built`; shared by `check` and
    `export --check`."""
    from ..edge.atomic import check_writable_file
    from ..host.check import run_check

    if report_path:
        check_writable_file(report_path, "--report")
    return report_result(run_check(built, spec, files, **options), report_path,
                         save_reference_path)


def _edge_check(args) -> int:
    """--reference REF.onnx FILE..., or one bundle: no MindSpore."""
    from ..edge.errors import UserError
    from ..edge.parity import (CHECK_CHUNK, FailedCandidate, check_shapes, compare_runners,
                               make_inputs)
    from ..edge.bundle import is_bundle, open_bundle
    from ..edge.progress import step
    from ..edge.sources import open_onnx_runner, resolve_onnx
    from ..models import open_runners

    if args.config or args.model or args.ckpt_path:
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
        candidates = open_runners(args.files, args.runtime, provider=args.provider,
                                  threads=args.threads, ov_precision=args.ov_precision,
                                  keep_failed=True)
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
                from None
        candidates = []
        for key in bundle.variants:
            runtimes = [r for r in args.runtime
                        if not (key == "fp32" and r == "onnxruntime")]  # the reference itself
            if not runtimes:
                continue
            candidates += open_runners([bundle_dir], runtimes, provider=args.provider,
                                       threads=args.threads, ov_precision=args.ov_precision,
                                       variant=key, keep_failed=True)
        if not candidates:
            raise UserError("nothing to compare: the bundle has only its fp32 model; add "
                            "--runtime openvino to compare runtimes")
        model_name = (bundle.manifest.get("model") or {}).get("name") or bundle_dir
    reference = open_onnx_runner(ref_model, "onnxruntime", provider=args.provider,
                                 threads=args.threads)
    if reference.image_size is None:
        raise UserError(f"{reference.name} has no static image input shape {reference.input.shape}")
    for c in candidates:
        if not isinstance(c, FailedCandidate):
            check_shapes(reference, c)
    shape = [d for d in reference.input.shape[1:]]
    inputs = make_inputs(shape, preprocessing, args.images, args.num_samples, args.seed,
                         precisions=[c.precision for c in candidates])
    with step(f"reference: {reference.describe()} on {len(inputs.array)} input(s)"):
        ref_out = reference(inputs.array, max_batch=CHECK_CHUNK)
    result = compare_runners(reference, ref_out, candidates, inputs.array, model=model_name,
                             inputs_desc=inputs.description, overrides=_overrides(args))
    if not args.reference:
        fp32 = [reference] if "onnxruntime" in args.runtime else []
        _add_recorded(result, bundle, fp32 + candidates, args)
    return report_result(result, args.report, args.save_reference)


def _overrides(args) -> dict:
    """The gate flags, as parity.compare_runners takes them."""
    return dict(max_abs=args.atol, rtol=args.rtol, cosine_min=args.min_cosine,
                top1_min=args.min_top1)


def _add_recorded(result, bundle, runners, args) -> None:
    """check BUNDLE: the runners already opened (every variant x runtime) also against
    MindSpore's recorded outputs."""
    from ..edge.progress import say
    from ..edge.selftest import run_selftest

    if not bundle.manifest.get("reference"):
        say(f"note: {bundle.directory} holds no recorded reference (an older bundle): only "
            "the variants against its fp32 model are compared")
        return
    recorded = run_selftest(bundle.directory, args.runtime, runners=runners)
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
    from ..models import open_runners

    data = read_regular_file(args.reference, "reference file", max_bytes=MAX_REFERENCE_BYTES,
                             follow_links=True)
    ref = load_reference(data, args.reference)
    if args.images or args.num_samples:
        raise UserError("--reference REF.npz replays its recorded inputs: --images and "
                        "--num_samples do not apply")
    recorded = RecordedRunner(ref, f"{ref.source} (recorded in "
                                   f"{os.path.basename(args.reference)})")
    candidates = open_runners(args.files, args.runtime, provider=args.provider,
                              threads=args.threads, ov_precision=args.ov_precision,
                              keep_failed=True)
    for c in candidates:
        if not isinstance(c, FailedCandidate):
            recorded.check_candidate(c)
    result = compare_runners(recorded, ref.outputs, candidates, ref.inputs,
                             model=str(ref.meta.get("model") or args.reference),
                             checkpoint=ref.meta.get("checkpoint"),
                             inputs_desc=ref.description(), overrides=_overrides(args))
    result.weights = ref.meta.get("weights")
    return report_result(result, args.report, args.save_reference)


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
    if args.reference or (not (args.config or args.model or args.ckpt_path)
                          and len(args.files) == 1 and model_format(args.files[0]) == "bundle"):
        return _edge_check(args)

    from .arguments import require_host

    require_host("checking against the MindSpore network (or give --reference REF.onnx)",
                 "mindspore", "onnx")
    from ..host.config import build_config, resolve_spec
    from ..host.divergence import DEFAULT_NODE_ATOL, DEFAULT_NODE_RTOL, NodeTolerance
    from ..host import pipeline

    spec = resolve_spec(args.config, args.model, args.ckpt_path, ema=args.ema)
    build_config(spec)  # unknown model / bad architecture: fail before any work
    for f in args.files:
        if model_format(f) == "bundle":
            raise UserError(f"{f} is a bundle directory: check it on its own (check {f}), "
                            "or give its .onnx files")
    built = pipeline.build_model(spec, seed=args.seed)
    tol = NodeTolerance(rtol=DEFAULT_NODE_RTOL if args.node_rtol is None else args.node_rtol,
                        atol=DEFAULT_NODE_ATOL if args.node_atol is None else args.node_atol)
    return run_and_report(built, spec, args.files, args.report,
                          save_reference_path=args.save_reference, images=args.images,
                          num_samples=args.num_samples, seed=args.seed,
                          provider=args.provider, runtimes=args.runtime,
                          ov_precision=args.ov_precision, atol=args.atol, rtol=args.rtol,
                          min_cosine=args.min_cosine, min_top1=args.min_top1,
                          localize=not args.no_localize, node_tolerance=tol)
