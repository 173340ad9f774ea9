"""The interrupts (SIGINT, SIGTERM) this process received, and a check that re-raises one.

The signal handlers (cli_support) raise KeyboardInterrupt / Terminated where Python happens to
be, which may be inside a library callback that turns it into another exception and carries on
(MindSpore's compiler calls back into Python). So the fact is also recorded here, and the points
where work becomes visible (the end of a progress step, an atomic rename) check it: a swallowed
interrupt still stops the run before anything is committed.
"""
import signal
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
