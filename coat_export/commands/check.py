"""`check`: do exported MINDIR / ONNX files compute what the MindSpore network computes?

    python -m coat_export check [-c CONFIG] [--model NAME] [--ckpt_path PATH] FILE [FILE ...]
        [--images DIR] [--num_samples N] [--report PATH]

Exit status: 0 every comparison passes, 1 one fails, 2 bad usage (missing/unreadable file or
image, a file of another model: input/output shapes differ). The Markdown table goes to
stdout, progress to stderr, the JSON report (atomically) to --report.
"""
import argparse
import os

from .arguments import non_negative_float, non_negative_int


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", metavar="FILE", nargs="+", help=".mindir or .onnx file(s) to check")
    p.add_argument("-c", "--config", help="yaml config: ours (configs/) or MindCV's training yaml")
    p.add_argument("--model", help="variant name (default: the config's, else coat_lite_tiny)")
    p.add_argument("--ckpt_path", help="MindCV checkpoint (.ckpt) the files were exported from; "
                   "absent: seeded random weights (as export.py without --ckpt_path)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of random weights (without --ckpt_path) and of random inputs")
    p.add_argument("--images", metavar="DIR",
                   help="also feed the images in DIR (MindCV eval preprocessing at the model's "
                        "image size)")
    p.add_argument("--num_samples", type=non_negative_int,
                   help="seeded random inputs (default 4; 0 with --images: images only)")
    p.add_argument("--report", metavar="PATH", help="write the JSON report here")
    p.add_argument("--provider", default=None,
                   help="ONNX Runtime execution provider (cpu, cuda, ...; default cpu)")
    p.add_argument("--atol", type=non_negative_float,
                   help="max |difference| of logits (fp32 default 1e-4; off for fp16/int8)")
    p.add_argument("--min_cosine", type=non_negative_float,
                   help="minimum cosine similarity of logits (fp32 0.99999, fp16 0.999, "
                        "int8 0.98)")
    p.add_argument("--min_top1", type=non_negative_float,
                   help="minimum top-1 agreement (fp32 1.0, fp16 0.95, int8 0.85)")
    p.add_argument("--node_rtol", type=non_negative_float, default=None,
                   help="first-divergence search: a node departs when max|diff| > node_atol + "
                        "node_rtol * max|MindSpore value| (default 1e-3)")
    p.add_argument("--node_atol", type=non_negative_float, default=None,
                   help="see --node_rtol (default 1e-5)")
    p.add_argument("--no_localize", action="store_true",
                   help="do not search for the first diverging node of a failing ONNX file")


def check_report_path(path):
    """UserError now (before any slow work) if the report cannot be written there."""
    from ..errors import UserError

    if not path:
        return
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UserError(f"--report {path} is a directory; give a file path")
    if not os.path.isdir(directory):
        raise UserError(f"--report: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise UserError(f"--report: directory {directory} is not writable")


def run_and_report(built, spec, files, report_path=None, **options) -> int:
    """Check `files` against `built`, print the Markdown table, write the JSON; 0 or 1.

    Shared by `check` and `export --check`."""
    from ..check import run_check
    from ..progress import say
    from ..report import build_report, to_markdown, write_report

    check_report_path(report_path)
    result = run_check(built, spec, files, **options)
    report = build_report(result)
    print(to_markdown(report), end="", flush=True)
    if report_path:
        write_report(report_path, report)
        say(f"report: {report_path}")
    if not result.passed:
        failed = [r for r in result.results if not r.passed]
        say(f"parity check FAILED for {', '.join(os.path.basename(r.path) for r in failed)}")
        return 1
    return 0


def run(args) -> int:
    from ..config import build_config, resolve_spec
    from ..divergence import DEFAULT_NODE_ATOL, DEFAULT_NODE_RTOL, NodeTolerance
    from ..errors import UserError
    from ..runtime import model_format

    spec = resolve_spec(args.config, args.model, args.ckpt_path)
    build_config(spec)  # unknown model / bad architecture: fail before any work
    for f in args.files:  # missing files and unknown formats: before building anything
        if model_format(f) not in ("onnx", "mindir"):
            raise UserError(f"{f}: expected a .onnx or .mindir file")
    if args.images and not os.path.isdir(args.images):
        raise UserError(f"--images: not a directory: {args.images}")
    if args.num_samples == 0 and not args.images:
        raise UserError("--num_samples 0 without --images: nothing to compare")
    check_report_path(args.report)

    from .. import pipeline

    built = pipeline.build_model(spec, seed=args.seed)
    tol = NodeTolerance(rtol=DEFAULT_NODE_RTOL if args.node_rtol is None else args.node_rtol,
                        atol=DEFAULT_NODE_ATOL if args.node_atol is None else args.node_atol)
    return run_and_report(built, spec, args.files, args.report, images=args.images,
                          num_samples=args.num_samples, seed=args.seed,
                          provider=args.provider, atol=args.atol, min_cosine=args.min_cosine,
                          min_top1=args.min_top1, localize=not args.no_localize,
                          node_tolerance=tol)
