"""Small helpers for matching node patterns in an OnnxGraph."""
from typing import List, Optional, Set, Tuple

import numpy as np

from ..onnx_graph import ONode, OnnxGraph


class Matcher:
    """Pattern queries over the graph's live indexes: they stay right while the pass edits the
    graph, so one Matcher serves a whole pass."""

    def __init__(self, og: OnnxGraph):
        self.og = og

    def producer(self, tensor: str) -> Optional[ONode]:
        return self.og.producer_of(tensor)

    def users(self, tensor: str) -> List[ONode]:
        """Consumers of `tensor`; a node reading it twice (x * x) is one user."""
        return list({id(n): n for n in self.og.users_of(tensor)}.values())

    @property
    def outputs(self) -> List[str]:
        return self.og.outputs

    def only_user(self, tensor: str) -> Optional[ONode]:
        """The single consumer of an internal tensor (None if shared or a graph output)."""
        users = self.users(tensor)
        if len(users) != 1 or tensor in self.og.outputs:
            return None
        return users[0]

    def scalar(self, tensor: str) -> Optional[float]:
        v = self.og.const_value(tensor)
        if v is None or v.size != 1 or v.dtype.kind != "f":
            return None
        return float(v.reshape(-1)[0])

    def other_input(self, node: ONode, tensor: str) -> Optional[str]:
        if len(node.inputs) != 2 or tensor not in node.inputs:
            return None
        return node.inputs[1] if node.inputs[0] == tensor else node.inputs[0]

    def reduce_axes(self, node: ONode):
        if len(node.inputs) > 1 and node.inputs[1]:
            axes = self.og.const_value(node.inputs[1])
            return None if axes is None else [int(a) for a in axes.reshape(-1)]
        return node.attrs.get("axes")


def close(value: Optional[float], target: float, rel: float = 1e-4) -> bool:
    return value is not None and abs(value - target) <= rel * abs(target)


def replace(og: OnnxGraph, dead: List[ONode], new: ONode) -> None:
    """Put `new` where the last of `dead` was; provenance of all of them goes to `new`."""
    og.replace_nodes(dead, new)


def as_array(og: OnnxGraph, tensor: str) -> Optional[np.ndarray]:
    return og.const_value(tensor)


def constant_add_after(og: OnnxGraph, outputs: Set[str],
                       node: ONode) -> Optional[Tuple[ONode, str, np.ndarray]]:
    """(add, constant tensor, its value) when `node`'s output is used only by an Add whose
    other operand is a constant: the bias that Conv/MatMul fusions fold in."""
    out = node.outputs[0]
    consumers = og.users_of(out)
    if out in outputs or len(consumers) != 1 or consumers[0].op_type != "Add":
        return None
    add = consumers[0]
    other = add.inputs[1] if add.inputs[0] == out else add.inputs[0]
    value = og.const_value(other)
    return None if value is None else (add, other, value)


def absorb_add(og: OnnxGraph, node: ONode, add: ONode) -> None:
    """`node` takes over the output (and provenance) of the Add it absorbed."""
    og.take_over_output(node, add)
