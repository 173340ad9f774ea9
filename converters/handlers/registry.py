"""Registry of op handlers: one function per MindSpore primitive, chosen by name and opset.

Like tf2onnx's ``@tf_op`` handlers: ``@op("ReduceMean", batch=...)`` registers the handler used
from the lowest supported opset; ``@op("ReduceMean", since=18)`` registers a variant used from
opset 18 on, where ONNX changed the operator (axes became an input).

Everything known about a primitive stays with its handler, including its batch rule (see
`converters/batch/`): how the --dynamic_batch analysis treats the batch axis through it, or
why it refuses. Every primitive declares one (once, on any of its variants); registering the
same primitive and opset twice is an error, so a handler cannot silently replace another.
"""
import contextlib
from typing import Callable, Dict, List, Optional, Tuple

MIN_OPSET = 13
MAX_OPSET = 21

_HANDLERS: Dict[str, List[Tuple[int, Callable]]] = {}
_BATCH: Dict[str, Callable] = {}


class RegistrationError(Exception):
    """A programming error in the handler tables (raised at import time)."""


def op(*names: str, since: int = MIN_OPSET, batch: Optional[Callable] = None):
    def register(fn):
        for name in names:
            variants = _HANDLERS.get(name, [])
            if any(v[0] == since for v in variants):
                raise RegistrationError(f"{name} is registered twice for opset {since}")
            if batch is not None:
                if name in _BATCH and _BATCH[name] is not batch:
                    raise RegistrationError(f"{name} declares two batch rules")
                _BATCH[name] = batch
            variants = sorted(variants + [(since, fn)], key=lambda v: v[0])
            _HANDLERS[name] = variants
        return fn
    return register


def lookup(name: str, opset: int) -> Optional[Callable]:
    best = None
    for since, fn in _HANDLERS.get(name, []):
        if since <= opset:
            best = fn
    return best


def batch_rule(name: str) -> Optional[Callable]:
    return _BATCH.get(name)


def opsets(name: str) -> Optional[Tuple[int, int]]:
    """(first opset, last opset) a primitive converts at, or None."""
    variants = _HANDLERS.get(name)
    return (variants[0][0], MAX_OPSET) if variants else None


def supported_ops() -> List[str]:
    return sorted(_HANDLERS)


@contextlib.contextmanager
def unregistered(*names: str):
    """Temporarily remove handlers (tests use this to fake unsupported operators)."""
    saved = {n: _HANDLERS.pop(n) for n in names if n in _HANDLERS}
    try:
        yield
    finally:
        _HANDLERS.update(saved)
