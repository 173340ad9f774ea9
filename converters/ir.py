"""A small typed in-memory graph of a MindSpore network, independent of protobuf.

The reader fills it from a MINDIR file; lowering turns it into ONNX. Plumbing (Load,
UpdateState, Depend, MakeTuple, TupleGetItem, monads, Return, calls of sub-graphs) is already
resolved here, so every `Node` is a real computation and `Graph.nodes` is topologically sorted.

Node inputs are either `Value`s (tensors and run-time scalars) or literals: Python scalars,
strings, None, numpy arrays, or tuples of those (tuples may hold `Value`s when MindSpore builds
a shape from run-time dimensions).
"""
import heapq
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

Shape = Optional[Tuple[Optional[int], ...]]  # None: unknown rank; a None dim: symbolic


@dataclass(eq=False)
class Value:
    name: str
    dtype: Optional[np.dtype]
    shape: Shape
    kind: str                          # "input" | "parameter" | "constant" | "node"
    producer: Optional["Node"] = None  # the node computing it (kind == "node")
    index: int = 0                     # which output of the producer
    data: Optional[np.ndarray] = None  # parameters and constants

    @property
    def rank(self) -> Optional[int]:
        return None if self.shape is None else len(self.shape)

    @property
    def is_static(self) -> bool:
        return self.shape is not None and all(d is not None for d in self.shape)

    def __repr__(self):
        return f"Value({self.name!r}, {self.dtype}, {self.shape}, {self.kind})"


@dataclass(eq=False)
class Node:
    name: str                 # unique in the graph (MINDIR node name, call-site prefixed)
    op_type: str              # MindSpore primitive type, e.g. "Conv2D"
    inputs: List[Any]
    outputs: List[Value]
    attrs: Dict[str, Any]     # primitive attributes from ModelProto.primitives
    scope: str = ""           # MindSpore full scope name, e.g. "Default/fc-Dense/MatMul-op0"

    def __repr__(self):
        return f"Node({self.name!r}, {self.op_type}, scope={self.scope!r})"


@dataclass(eq=False)
class Graph:
    name: str
    inputs: List[Value]
    outputs: List[Value]
    nodes: List[Node]
    parameters: Dict[str, Value] = field(default_factory=dict)

    def values(self):
        """Every Value a node input or output refers to (inputs, parameters, constants, outputs)."""
        seen = {}
        for v in self.inputs:
            seen[id(v)] = v
        for n in self.nodes:
            for x in iter_values(n.inputs):
                seen.setdefault(id(x), x)
            for x in n.outputs:
                seen.setdefault(id(x), x)
        return list(seen.values())

    def op_counts(self) -> Dict[str, int]:
        counts: Dict[str, int] = {}
        for n in self.nodes:
            counts[n.op_type] = counts.get(n.op_type, 0) + 1
        return dict(sorted(counts.items()))

    def prune(self) -> None:
        """Drop nodes no graph output depends on (e.g. shape checks folded away)."""
        live = set()
        stack = list(self.outputs)
        while stack:
            v = stack.pop()
            n = v.producer
            if n is None or id(n) in live:
                continue
            live.add(id(n))
            stack.extend(iter_values(n.inputs))
        self.nodes = [n for n in self.nodes if id(n) in live]


def iter_values(items):
    """Yield the Values inside node inputs (recursing into tuples)."""
    for x in items:
        if isinstance(x, Value):
            yield x
        elif isinstance(x, (tuple, list)):
            yield from iter_values(x)


def dependency_order(reads: Sequence[Iterable[str]], writes: Sequence[Iterable[str]]) -> List[int]:
    """Indices of nodes, given by the names each reads and writes, in dependency order (Kahn's
    algorithm; of the nodes ready, the first in the given order comes first, so a sorted list
    keeps its order). Nodes on a cycle, and those that depend on one, are left out."""
    produced = {}
    for i, outs in enumerate(writes):
        for o in outs:
            produced[o] = i
    users: List[List[int]] = [[] for _ in writes]
    pending = [0] * len(writes)
    for i, ins in enumerate(reads):
        deps = set()
        for t in ins:
            j = produced.get(t)
            if j is not None and j != i and j not in deps:
                deps.add(j)
                users[j].append(i)
        pending[i] = len(deps)
    ready = [i for i, c in enumerate(pending) if c == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for u in users[i]:
            pending[u] -= 1
            if pending[u] == 0:
                heapq.heappush(ready, u)
    return order
