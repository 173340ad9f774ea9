"""A primitive's arguments, read the same way by its handler and by its batch rule.

MindSpore passes an argument as a node input (PRIMITIVE_FUNCTION ops) or keeps it as a
primitive attribute (legacy PRIMITIVE ops), so a reader names both places: input `pos` or
attribute `name`, else `default`. A value is a constant (a Python value, or an IR Value with
data) or computed at run time (an IR Value without data). An operator whose handler and batch
rule both need more than one argument parses them once, in a small spec function next to its
handler (StridedSlice's entries, MatMul's transposes, Squeeze's axes), built on these two.
"""
from typing import Any, Optional

from . import ir
from .errors import ConversionError

MISSING = object()


def where(node) -> str:
    return f"{node.op_type} node '{node.name}'" + (f" ({node.scope})" if node.scope else "")


def raw(node, pos: Optional[int], name: Optional[str] = None, default: Any = MISSING):
    """The argument as the node holds it: an IR Value, a tuple (of literals and Values) or a
    literal."""
    if pos is not None and pos < len(node.inputs):
        return node.inputs[pos]
    if name is not None and name in node.attrs:
        return node.attrs[name]
    if default is MISSING:
        raise ConversionError(f"{where(node)}: missing argument '{name or pos}'")
    return default


def is_constant(x) -> bool:
    if isinstance(x, ir.Value):
        return x.data is not None
    if isinstance(x, (tuple, list)):
        return all(is_constant(e) for e in x)
    return True


def literal(node, x, what: str = "argument"):
    """`x` as a Python value (numpy array for tensors); ConversionError if computed at run
    time."""
    if isinstance(x, ir.Value):
        if x.data is not None:
            return x.data
        raise ConversionError(f"{where(node)}: {what} must be a constant, it is computed at "
                              "run time")
    if isinstance(x, (tuple, list)):
        return tuple(literal(node, e, what) for e in x)
    return x


def constant(node, pos: Optional[int], name: Optional[str] = None, default: Any = MISSING):
    """A compile-time argument as a Python value."""
    return literal(node, raw(node, pos, name, default), name or str(pos))
