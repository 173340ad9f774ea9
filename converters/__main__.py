"""python -m coat_export.converters IN.mindir OUT.onnx [--opset N] [--dynamic_batch]
    [--dynamic_axes [[INPUT:]AXIS=NAME,...] ...] [--check_sizes NAME=SIZE[,SIZE] ...]
(`python -m converters ...` in a checkout of the repository).

`--dynamic_axes` names the symbolic axes of a MINDIR exported with `Tensor(shape=[None, 3,
None, None])` (default names: batch, height, width, depth, sequence; see
`converters.dynamic_axes`); the last check then runs the model at two sizes of each axis.

Exit status 0 on success; 2 with one ``error: ...`` line on stderr for anything that went wrong,
130 after Ctrl-C and 143 after SIGTERM, each with one line (nothing is written then). The
output directory is created if needed; the file is written only once the model passes the
full ONNX checker and loads in ONNX Runtime.
"""
import argparse
import signal
import sys

from coat_export.edge import interrupts
from coat_export.edge.cli_support import install_signal_handlers

from . import dynamic_axes as axes
from .api import DEFAULT_OPSET, convert
from .errors import ConversionError


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(f"error: {message}\n")
        sys.exit(2)


def main(argv=None) -> int:
    parser = _Parser(prog=f"python -m {__package__ or 'converters'}",
                     description="Convert a MindSpore MINDIR file to ONNX.")
    parser.add_argument("mindir", help="input .mindir file")
    parser.add_argument("onnx", help="output .onnx file")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                        help=f"ONNX opset (13..21, default {DEFAULT_OPSET})")
    parser.add_argument("--dynamic_batch", action="store_true",
                        help="make the batch dimension symbolic ('batch')")
    parser.add_argument("--dynamic_axes", nargs="*", metavar="[INPUT:]AXIS=NAME,...",
                        help="name the symbolic axes the MINDIR was exported with (None in its "
                             "input shapes): batch, height, width, depth, sequence by default, "
                             "or as given, e.g. x:3=time")
    parser.add_argument("--check_sizes", nargs="+", metavar="NAME=SIZE[,SIZE]", default=[],
                        help="the sizes the last check runs a symbolic axis at "
                             "(default: height/width 64,96; sequence 16,24; others 32,48)")
    args = parser.parse_args(argv)
    # SIGTERM and Ctrl-C become exceptions, so the writer's clean-up runs (SIGTERM's default
    # action would end the process silently, leaving its temporaries), and wait while the
    # writer moves a model and its data into place (interrupts.deferred)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    install_signal_handlers()
    try:
        spec = None if args.dynamic_axes is None else axes.parse_spec(args.dynamic_axes)
        result = convert(args.mindir, args.onnx, opset=args.opset,
                         dynamic_batch=args.dynamic_batch, make_dirs=True,
                         dynamic_axes=spec, check_sizes=axes.parse_check_sizes(args.check_sizes))
        interrupts.raise_if_interrupted()
    except ConversionError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except interrupts.Terminated:
        sys.stderr.write("error: terminated (SIGTERM); nothing was written\n")
        return 143
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted; nothing was written\n")
        return 130
    except Exception as exc:  # never a traceback: but say it is a converter bug
        sys.stderr.write(f"error: internal converter error ({type(exc).__name__}: {exc})\n")
        return 2
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)
    print(f"wrote {result.onnx_path}: {result.onnx_nodes} nodes, {result.initializers} "
          f"initializers, opset {result.opset}, {result.timings['total']:.2f} s")
    if result.dynamic_axes:
        runs = "; ".join(", ".join(f"{k}={v}" for k, v in sorted(r.items()))
                         for r in result.conversion.check_runs)
        print(f"dynamic axes: {axes.describe(result.conversion.model)} (checked at {runs})")
    for note in result.notes:
        print(f"note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
