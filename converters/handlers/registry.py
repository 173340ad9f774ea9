"""Registry of op handlers: one function per MindSpore primitive, chosen by name and opset.

Like tf2onnx's ``@tf_op`` handlers: ``@op("ReduceMean")`` registers the handler used from the
lowest supported opset; ``@op("ReduceMean", since=18)`` registers a variant used from opset 18
on, where ONNX changed the operator (axes became an input).
"""
import contextlib
from typing import Callable, Dict, List, Optional, Tuple

MIN_OPSET = 13
MAX_OPSET = 21

_HANDLERS: Dict[str, List[Tuple[int, Callable]]] = {}


def op(*names: str, since: int = MIN_OPSET):
    def register(fn):
        for name in names:
            variants = [v for v in _HANDLERS.get(name, []) if v[0] != since]
            variants.append((since, fn))
            variants.sort(key=lambda v: v[0])
            _HANDLERS[name] = variants
        return fn
    return register


def lookup(name: str, opset: int) -> Optional[Callable]:
    best = None
    for since, fn in _HANDLERS.get(name, []):
        if since <= opset:
            best = fn
    return best


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
