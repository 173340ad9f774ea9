"""The interrupts (SIGINT, SIGTERM) this process received, and a check that re-raises one.

The signal handlers (cli_support) raise KeyboardInterrupt / Terminated where Python happens to
be, which may be inside a library callback that turns it into another exception and carries on
(MindSpore's compiler calls back into Python). So the fact is also recorded here, and the points
where work becomes visible (the end of a progress step, an atomic rename) check it: a swallowed
interrupt still stops the run before anything is committed.
"""
import os
import signal
import sys
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered as an exception so that cleanup code runs as for Ctrl-C."""


RECEIVED = []


def record(signum: int) -> None:
    RECEIVED.append(signum)


def as_exception(signum: int) -> BaseException:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def raise_if_interrupted() -> None:
    if RECEIVED:
        raise as_exception(RECEIVED[-1])


_DEFERRED = []


def is_deferred() -> bool:
    return bool(_DEFERRED)


@contextmanager
def deferred():
    """A block that must not be cut in two (moving a model and its data into place): an
    interrupt arriving inside it is recorded and raised when it ends."""
    _DEFERRED.append(True)
    try:
        yield
    finally:
        _DEFERRED.pop()
    raise_if_interrupted()


def interrupted_line(terminated: bool) -> str:
    return f"error: {'terminated' if terminated else 'interrupted'}; nothing was left half-written"


def exit_interrupted(terminated: bool) -> None:
    """Remove this process's scratch, print one line and exit at once (130 / 143), without
    unwinding: a library cut half-way through its import (MindSpore) would otherwise print
    its own errors from its exit handlers, or crash. Safe inside a signal handler: the
    scratch helper is taken from the loaded modules (importing there, in the middle of an
    import, could deadlock); if it is not loaded, this process has made no scratch."""
    atomic = sys.modules.get(__name__.rsplit(".", 1)[0] + ".atomic")
    try:
        if atomic is not None:
            atomic.remove_process_scratch()
        sys.stderr.write(interrupted_line(terminated) + "\n")
    except Exception:  # a half-imported module or a closed stream: still exit with the code
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(143 if terminated else 130)


def _exit_on_signal(signum, frame) -> None:
    exit_interrupted(signum == signal.SIGTERM)


def install_for_interrupts(handler) -> dict:
    """`handler` for SIGINT and SIGTERM; the handlers it replaced. Outside the main thread
    the embedding program owns signals, and nothing changes."""
    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            previous[sig] = signal.signal(sig, handler)
        except ValueError:
            pass
    return previous


def exit_on_interrupt_while_starting() -> None:
    """Entry points call this first. Until the command installs its own handlers
    (cli_support.run_guarded), Ctrl-C or SIGTERM ends the process at once with one line: it
    arrives while modules import, where an exception would surface as a traceback of
    whichever module was loading, and nothing has been written yet."""
    install_for_interrupts(_exit_on_signal)


@contextmanager
def exit_at_once_on_interrupt():
    """A block no exception may cut, such as a C++ library's import (an interrupted MindSpore
    import once died of SIGSEGV, with no line): Ctrl-C or SIGTERM inside it exits at once,
    through exit_interrupted; work already committed is complete, by the atomic writes."""
    previous = install_for_interrupts(_exit_on_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
