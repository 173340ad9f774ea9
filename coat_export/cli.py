"""`coat-export` / `python -m coat_export`: one CLI, one module per subcommand.

Each module in coat_export.commands defines `add_arguments(parser)` and `run(args) -> int`
and imports heavy libraries (MindSpore, ONNX Runtime) inside `run`, so that `--help` and the
edge-runtime commands stay light.
"""
import argparse
import importlib
import sys
from typing import List, Optional

from .errors import UserError

# subcommand -> (module in coat_export.commands, one-line help)
COMMANDS = {
    "export": ("export", "export a CoaT checkpoint to MINDIR, AIR or ONNX and verify it"),
    "predict": ("predict", "classify images with an ONNX model or an edge bundle"),
    "quantize": ("quantize", "fp16 / int8 variants of an ONNX model, checked against fp32"),
    "bundle": ("bundle", "write an edge-deployment bundle (ONNX, variants, labels, manifest)"),
    "validate": ("validate", "top-1/top-5 of exported models (ONNX, MINDIR) on an ImageFolder"),
    "bench": ("bench", "latency and throughput of exported models (ONNX, MINDIR)"),
    "check": ("check", "parity of exported MINDIR / ONNX files with the MindSpore network"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, as argparse does, but no usage dump
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="coat-export", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_text, description=help_text)
        mod = importlib.import_module(f"coat_export.commands.{module}")
        mod.add_arguments(sp)
        sp.set_defaults(_run=mod.run)
    return parser


def run_command(run, args) -> int:
    """Run a command; UserError becomes one line on stderr and its exit code."""
    try:
        return int(run(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(args._run, args)


def main_entry() -> None:
    """Console-script entry point (`coat-export`)."""
    sys.exit(main())
