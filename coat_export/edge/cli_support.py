"""Command-line plumbing shared by `coat-export` and a bundle's predict.py.

Every failure a user can act on is one line on stderr and an exit code, never a traceback:
UserError -> 2 (or its own code), Ctrl-C and SIGTERM -> 130 / 143.
"""
import argparse
import signal
import sys

from . import interrupts
from .errors import UserError
from .interrupts import Terminated  # noqa: F401  (part of this module's interface)
from .runners.openvino_runner import OV_PRECISIONS
from .runtimes import RUNTIMES


def _number(text: str, kind, minimum, what: str):
    try:
        value = kind(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected {what}, got '{text}'") from exc
    if not value >= minimum:  # also rejects NaN
        raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1, with a one-line error otherwise."""
    return _number(text, int, 1, "a whole number")


def non_negative_int(text: str) -> int:
    return _number(text, int, 0, "a whole number")


def non_negative_float(text: str) -> float:
    return _number(text, float, 0, "a number")


def add_runtime_arguments(p: argparse.ArgumentParser, several: bool = True) -> None:
    """--runtime (one or more), --provider, --ov_precision, --threads."""
    if several:
        p.add_argument("--runtime", nargs="+", choices=RUNTIMES, default=["onnxruntime"],
                       metavar="RUNTIME", help="run every ONNX file in each of these: "
                       "onnxruntime (default), openvino")
    else:
        p.add_argument("--runtime", choices=RUNTIMES, default="onnxruntime",
                       help="onnxruntime (default) or openvino")
    p.add_argument("--provider", help="ONNX Runtime execution provider (cpu, cuda, ...; "
                                      "default cpu)")
    p.add_argument("--ov_precision", default="f32", choices=OV_PRECISIONS,
                   help="OpenVINO inference precision (default f32; bf16/f16 are judged by "
                        "the reduced-precision gates)")
    p.add_argument("--threads", type=positive_int,
                   help="inference threads per model (default: all cores of this process)")


class VersionAction(argparse.Action):
    """`--version`: one unwrapped line (argparse's own action wraps it to the terminal)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                 help="print the version of the tool and of the runtimes, then exit"):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from .versions import version_line

        print(version_line())
        parser.exit(0)


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):  # one line and exit 2, as argparse does, but no usage dump
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _in_finalizer(frame, depth: int = 64) -> bool:
    """Whether `frame` runs inside a `__del__` (MindSpore's Cell.__del__ frees compiled graphs
    as the command's objects go): Python prints and drops an exception raised there."""
    while frame is not None and depth > 0:
        if frame.f_code.co_name == "__del__":
            return True
        frame, depth = frame.f_back, depth - 1
    return False


def _on_signal(signum, frame):
    # recorded first: an interrupt that C code turns into another exception (MindSpore's
    # import reports Ctrl-C as "ImportError: initialization failed") or swallows is still one
    interrupts.record(signum)
    if _in_finalizer(frame) or interrupts.is_deferred():
        return  # raised at the next check instead (raise_if_interrupted), not lost there
    raise interrupts.as_exception(signum)


def install_signal_handlers() -> None:
    """SIGINT and SIGTERM become exceptions, so `finally` blocks remove temporaries.
    Entry points call this first, before any slow import."""
    interrupts.install_for_interrupts(_on_signal)


def _interrupted(terminated: bool) -> int:
    """One line, then exit at once: our `finally` blocks have run (interrupts.exit_interrupted;
    run_guarded has loaded the scratch helper it uses)."""
    return interrupts.exit_interrupted(terminated)


_HOLD_WHEN_DONE = []


def run_program(main_fn) -> None:
    """A process's entry point: `main_fn()` -> status, then exit. Once the command's outcome
    is decided (its outputs committed and its temporaries removed, inside `run_guarded`),
    Ctrl-C and SIGTERM are held: one arriving between then and the exit used to surface as a
    traceback of `Terminated` with exit 1. In-process callers of `main` keep their handlers."""
    _HOLD_WHEN_DONE.append(True)
    exit_holding_signals(main_fn())


def _hold_signals() -> None:
    # ignored process-wide (Python's finalisation keeps SIG_IGN, and it covers the runtimes'
    # worker threads, which a thread mask would not), and masked in this thread
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except (ValueError, OSError):  # not the main thread
            pass
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    except (AttributeError, ValueError, OSError):  # no pthread_sigmask (Windows)
        pass


def exit_holding_signals(status: int) -> None:
    """`sys.exit(status)` once a command is over and its outcome printed. Ctrl-C and SIGTERM
    are held from here on: MindSpore's C++ teardown runs for about a second after Python has
    put the default handlers back, and a signal then killed the process by the signal, with no
    line, as if complete outputs were damaged. Held, it no longer changes the outcome."""
    _hold_signals()
    sys.exit(status)


def run_guarded(fn) -> int:
    """Run `fn()` -> exit status; user errors, system errors and interrupts become one line
    on stderr, never a traceback."""
    from .atomic import remove_process_scratch

    install_signal_handlers()
    try:
        try:
            status = int(fn() or 0)
            interrupts.raise_if_interrupted()  # one a library swallowed is still an interrupt
            return status
        finally:
            remove_process_scratch()
            if _HOLD_WHEN_DONE:  # the outcome is decided: a signal from here on is held
                _hold_signals()
    except Terminated:
        return _interrupted(True)
    except KeyboardInterrupt:
        return _interrupted(False)
    except BaseException as exc:
        if interrupts.RECEIVED:   # whatever the interrupted library turned the signal into
            return _interrupted(interrupts.RECEIVED[-1] == signal.SIGTERM)
        return _failure(exc)


def _failure(exc: BaseException) -> int:
    """One line and an exit status for errors a user can act on; anything else is a bug and
    keeps its traceback."""
    if isinstance(exc, UserError):
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if isinstance(exc, BrokenPipeError):  # `... | head`: not an error of ours
        return 0
    if isinstance(exc, OSError):   # disk full, permissions, I/O errors met while working
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        print(f"error: {exc.strerror or exc}{where}; nothing was left half-written",
              file=sys.stderr)
        return 2
    if isinstance(exc, MemoryError):
        print("error: out of memory; try a smaller --batch_size", file=sys.stderr)
        return 2
    raise exc
