"""An editable ONNX-level graph: what lowering produces, passes rewrite and the writer serialises.

Plain Python objects instead of protobuf keep passes simple and fast. Every node remembers the
IR nodes it came from (`origin`), and the graph remembers which of its tensors hold exactly the
value of an IR node output (`tensor_origin`): that is the provenance the writer records.
"""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np


@dataclass(eq=False)
class ONode:
    op_type: str
    inputs: List[str]                 # "" marks an omitted optional input
    outputs: List[str]
    attrs: Dict[str, Any] = field(default_factory=dict)
    name: str = ""
    origin: List[Any] = field(default_factory=list)  # ir.Node(s) this node implements
    domain: str = ""


@dataclass
class TensorInfo:
    dtype: Optional[np.dtype]
    shape: Optional[Tuple[Any, ...]]  # dims: int, None (unknown) or str (symbolic name)


class OnnxGraph:
    def __init__(self, name: str):
        self.name = name
        self.nodes: List[ONode] = []
        self.initializers: Dict[str, np.ndarray] = {}
        self.inputs: List[str] = []
        self.outputs: List[str] = []
        self.info: Dict[str, TensorInfo] = {}          # known dtype/shape per tensor
        self.tensor_origin: Dict[str, Tuple[str, int]] = {}  # tensor -> (IR node name, output)
        self.ir_nodes: Dict[str, Any] = {}             # IR node name -> ir.Node
        self.generated = set()                         # names made up by fresh()
        self._counter = 0

    def fresh(self, hint: str = "t") -> str:
        self._counter += 1
        name = f"{hint}__{self._counter}"
        self.generated.add(name)
        return name

    def add_initializer(self, array: np.ndarray, hint: str = "const") -> str:
        name = self.fresh(hint)
        # np.ascontiguousarray would turn 0-d arrays into 1-d ones
        self.initializers[name] = np.asarray(array, order="C")
        return name

    def producers(self) -> Dict[str, ONode]:
        return {o: n for n in self.nodes for o in n.outputs if o}

    def consumers(self) -> Dict[str, List[ONode]]:
        users: Dict[str, List[ONode]] = {}
        for n in self.nodes:
            for i in n.inputs:
                if i:
                    users.setdefault(i, []).append(n)
        return users

    def const_value(self, name: str) -> Optional[np.ndarray]:
        return self.initializers.get(name)

    def shape_of(self, name: str):
        if name in self.initializers:
            return tuple(self.initializers[name].shape)
        info = self.info.get(name)
        return None if info is None else info.shape

    def dtype_of(self, name: str):
        if name in self.initializers:
            return self.initializers[name].dtype
        info = self.info.get(name)
        return None if info is None else info.dtype

    def replace_uses(self, old: str, new: str) -> None:
        """Make every consumer (and graph output) of `old` read `new` instead."""
        for n in self.nodes:
            if old in n.inputs:
                n.inputs = [new if i == old else i for i in n.inputs]
        if old in self.outputs:
            self.outputs = [new if o == old else o for o in self.outputs]

    def rename_tensor(self, old: str, new: str) -> None:
        for n in self.nodes:
            if old in n.inputs:
                n.inputs = [new if i == old else i for i in n.inputs]
            if old in n.outputs:
                n.outputs = [new if o == old else o for o in n.outputs]
        self.inputs = [new if i == old else i for i in self.inputs]
        self.outputs = [new if o == old else o for o in self.outputs]
        for table in (self.initializers, self.info, self.tensor_origin):
            if old in table:
                table[new] = table.pop(old)

    def remove_unused(self) -> int:
        """Dead-code elimination: drop nodes and initializers no graph output needs."""
        needed = set(self.outputs)
        kept = []
        for n in reversed(self.nodes):
            if any(o in needed for o in n.outputs if o):
                kept.append(n)
                needed.update(i for i in n.inputs if i)
        removed = len(self.nodes) - len(kept)
        kept.reverse()
        self.nodes = kept
        for name in list(self.initializers):
            if name not in needed:
                del self.initializers[name]
        live = needed | set(self.inputs)
        for table in (self.info, self.tensor_origin):
            for name in [k for k in table if k not in live]:
                del table[name]
        return removed
