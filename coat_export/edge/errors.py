"""Errors a user can act on: printed as one line, never as a traceback."""
from typing import Optional


class UserError(Exception):
    """Bad input or environment. The message says what is wrong and what to do."""

    exit_code = 2


class VerificationError(UserError):
    """An exported artifact does not compute what the source network computes."""

    exit_code = 1


def first_line(exc: BaseException, limit: Optional[int] = 200) -> str:
    """The first line of a foreign exception's message (MindSpore and ONNX Runtime append
    C++ stack traces), or its type name when the message is empty; at most `limit` chars."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:limit]


class ModelRunError(UserError):
    """A runtime loaded a model but failed running it (a shape it cannot take, an allocation
    it cannot make): reported with the model, the runtime and the node when it names one."""


class ModelLoadError(UserError):
    """A runtime refused a model file (invalid graph, unsupported op): a failure of that
    file, which `check` reports as a failed comparison rather than as bad usage."""
