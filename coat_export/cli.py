"""`coat-export` / `python -m coat_export`: one CLI, one module per subcommand.

Each module in coat_export.commands defines `add_arguments(parser)` and `run(args) -> int`
and imports heavy libraries (MindSpore, onnx, the runtimes) inside `run`, so that `--help`,
`--version` and the edge commands stay light and work without the host toolchain.
"""
import importlib
import os
import sys
from typing import List, Optional

from .edge.atomic import process_scratch_path
from .edge.cli_support import OneLineParser, VersionAction, run_guarded
from .edge.third_party import quiet_third_party

# subcommand -> (module in coat_export.commands, one-line help)
COMMANDS = {
    "export": ("export", "export a CoaT checkpoint to MINDIR, AIR or ONNX and verify it"),
    "predict": ("predict", "classify images with an edge bundle or an ONNX model"),
    "check": ("check", "parity of exported files with the MindSpore network, or with a "
                       "reference ONNX model (--reference)"),
    "validate": ("validate", "top-1/top-5 accuracy on an ImageFolder, every model and runtime "
                             "side by side"),
    "bench": ("bench", "latency (median, p90) of exported models, interleaved runs"),
    "quantize": ("quantize", "fp16 / int8 variants of an ONNX model, checked against fp32"),
    "bundle": ("bundle", "write an edge bundle (ONNX, variants, labels, manifest, predict.py)"),
}


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="coat-export", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        sp.add_argument("--version", action=VersionAction)
        sp.add_argument("--verbose", action="store_true",
                        help="also show the libraries' own warnings and logs")
        mod = importlib.import_module(f"coat_export.commands.{module}")
        mod.add_arguments(sp)
        sp.set_defaults(_run=mod.run)
    return parser


def run_command(run, args) -> int:
    """Run a command; UserError becomes one line on stderr and its exit code."""
    return run_guarded(lambda: run(args))


def main(argv: Optional[List[str]] = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    quiet_third_party(args.verbose)
    # MindSpore writes failure dumps (rank_0/om/analyze_fail.ir, e.g. when interrupted while
    # compiling) into the working directory unless told otherwise: into our scratch instead
    os.environ.setdefault("MS_OM_PATH", process_scratch_path("mindspore"))
    return run_command(args._run, args)
