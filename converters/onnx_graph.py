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
    """Nodes in topological order, initializers, graph inputs/outputs, per-tensor info and
    provenance. Passes edit it only through the helpers below (add, rewire, rename, remove,
    replace, bypass, fold), which keep a consumer index and the provenance right; reading
    `nodes`, `inputs`, `outputs` and `initializers` directly is fine."""

    def __init__(self, name: str):
        self.name = name
        self._nodes: List[ONode] = []
        self.initializers: Dict[str, np.ndarray] = {}
        self.inputs: List[str] = []
        self.outputs: List[str] = []
        self.info: Dict[str, TensorInfo] = {}          # known dtype/shape per tensor
        self.tensor_origin: Dict[str, Tuple[str, int]] = {}  # tensor -> (IR node name, output)
        self.ir_nodes: Dict[str, Any] = {}             # IR node name -> ir.Node
        self.generated = set()                         # names made up by fresh()
        self._counter = 0
        self._users: Optional[Dict[str, List[ONode]]] = None  # consumer index, built lazily
        self.visiting: Optional[ONode] = None  # the node a pass is looking at (for errors)

    # ---------------------------------------------------------------- nodes
    @property
    def nodes(self) -> List[ONode]:
        return self._nodes

    @nodes.setter
    def nodes(self, nodes: List[ONode]) -> None:
        # a wholesale replacement (lowering, tests): the index is rebuilt on next use
        self._nodes = list(nodes)
        self._users = None

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

    def add_node(self, node: ONode, position: Optional[int] = None) -> ONode:
        if position is None:
            self._nodes.append(node)
        else:
            self._nodes.insert(position, node)
        if self._users is not None:
            for i in node.inputs:
                if i:
                    self._users.setdefault(i, []).append(node)
        return node

    def each(self, *op_types: str):
        """The nodes (of these op types; all without any) as they are now, one at a time;
        the current one is `visiting`, so a pass that fails can name the node it was on."""
        for n in [n for n in self._nodes if not op_types or n.op_type in op_types]:
            self.visiting = n
            yield n
        self.visiting = None

    def describe(self, node: ONode) -> str:
        """A node as a user can find it: its ONNX op and the MindSpore node(s) it came from."""
        src = "; ".join(f"{getattr(o, 'op_type', '?')} '{getattr(o, 'scope', '') or o.name}'"
                        for o in node.origin[:2])
        return f"{node.op_type} node {node.name or node.outputs[0]!r}" + \
            (f" (from MindSpore {src})" if src else "")

    # ---------------------------------------------------------------- queries
    def _index(self) -> Dict[str, List[ONode]]:
        if self._users is None:
            users: Dict[str, List[ONode]] = {}
            for n in self._nodes:
                for i in n.inputs:
                    if i:
                        users.setdefault(i, []).append(n)
            self._users = users
        return self._users

    def producers(self) -> Dict[str, ONode]:
        return {o: n for n in self._nodes for o in n.outputs if o}

    def consumers(self) -> Dict[str, List[ONode]]:
        return {k: list(v) for k, v in self._index().items() if v}

    def users_of(self, tensor: str) -> List[ONode]:
        return list(self._index().get(tensor, []))

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

    # ---------------------------------------------------------------- edits
    def set_inputs(self, node: ONode, inputs: List[str]) -> None:
        """Rewire `node` (keeps the consumer index right)."""
        if self._users is not None:
            for i in node.inputs:
                if i and i in self._users:
                    self._users[i] = [u for u in self._users[i] if u is not node]
            for i in inputs:
                if i:
                    self._users.setdefault(i, []).append(node)
        node.inputs = list(inputs)

    def replace_uses(self, old: str, new: str) -> None:
        """Make every consumer (and graph output) of `old` read `new` instead."""
        for n in {id(u): u for u in self.users_of(old)}.values():
            self.set_inputs(n, [new if i == old else i for i in n.inputs])
        if old in self.outputs:
            self.outputs = [new if o == old else o for o in self.outputs]

    def rename_tensor(self, old: str, new: str) -> None:
        """Rename a tensor everywhere: producers, consumers, graph I/O, tables, provenance."""
        for n in self._nodes:
            if old in n.outputs:
                n.outputs = [new if o == old else o for o in n.outputs]
        self.replace_uses(old, new)
        self.inputs = [new if i == old else i for i in self.inputs]
        for table in (self.initializers, self.info, self.tensor_origin):
            if old in table:
                table[new] = table.pop(old)

    def rename_all(self, rename: Dict[str, str]) -> None:
        """Many renames at once (naming passes); same guarantees as rename_tensor."""
        r = rename.get
        for n in self._nodes:
            n.inputs = [r(i, i) for i in n.inputs]
            n.outputs = [r(o, o) for o in n.outputs]
        self.inputs = [r(i, i) for i in self.inputs]
        self.outputs = [r(o, o) for o in self.outputs]
        self.initializers = {r(k, k): v for k, v in self.initializers.items()}
        self.info = {r(k, k): v for k, v in self.info.items()}
        self.tensor_origin = {r(k, k): v for k, v in self.tensor_origin.items()}
        self._users = None

    def remove_nodes(self, nodes) -> None:
        """Drop nodes; provenance of outputs nobody produces any more goes with them."""
        ids = {id(n) for n in nodes}
        if not ids:
            return
        self._nodes = [n for n in self._nodes if id(n) not in ids]
        if self._users is not None:
            for n in nodes:
                for i in n.inputs:
                    if i and i in self._users:
                        self._users[i] = [u for u in self._users[i] if id(u) not in ids]
        produced = {o for n in self._nodes for o in n.outputs}
        for n in nodes:
            for o in n.outputs:
                if o not in produced:
                    self.tensor_origin.pop(o, None)

    def replace_nodes(self, dead: List[ONode], new, first: bool = False) -> None:
        """Put `new` (a node or a list of nodes, in order) where the last of `dead` was, or the
        first with first=True (where consumers of a dead node's output may sit between dead
        nodes). New nodes inherit the dead nodes' IR origins; provenance of tensors that only
        the dead nodes computed is dropped."""
        news = list(new) if isinstance(new, (list, tuple)) else [new]
        ids = {id(n) for n in dead}
        where = [i for i, n in enumerate(self._nodes) if id(n) in ids]
        at = (min(where) if first else max(where) + 1)
        origin = [o for n in dead for o in n.origin]
        for k, n in enumerate(news):
            n.origin = list(origin)
            self.add_node(n, at + k)
        produced = {o for n in news for o in n.outputs}
        for n in dead:
            for out in n.outputs:
                if out not in produced:
                    self.tensor_origin.pop(out, None)
        self.remove_nodes(dead)

    def take_over_output(self, node: ONode, absorbed: ONode) -> None:
        """`node` now computes what `absorbed` (its only consumer) computed: it writes the
        absorbed node's output, with its provenance, and the absorbed node goes."""
        self.tensor_origin.pop(node.outputs[0], None)
        node.outputs = [absorbed.outputs[0]] + node.outputs[1:]
        node.origin = node.origin + absorbed.origin
        self.remove_nodes([absorbed])

    def record_provenance(self, tensor: str, ir_node, output: int = 0) -> None:
        """`tensor` holds output `output` of IR node `ir_node` (the same elements, maybe in
        another shape): a pass that recreates an intermediate a fusion had hidden says so."""
        if tensor not in self.initializers:
            self.tensor_origin[tensor] = (ir_node.name, output)

    def move_provenance(self, src: str, dst: str) -> None:
        """`dst` now holds exactly what `src` held (and `src` may disappear)."""
        if src in self.tensor_origin and dst not in self.tensor_origin \
                and dst not in self.initializers:
            self.tensor_origin[dst] = self.tensor_origin[src]
        self.tensor_origin.pop(src, None)

    def bypass(self, node: ONode) -> bool:
        """Remove a node whose output equals its first input (Identity, no-op Reshape...).
        Consumers read the input instead; when the output is a graph output the input's
        producer writes it directly. False (nothing done) where neither is possible."""
        src, dst = node.inputs[0], node.outputs[0]
        if dst in self.outputs:
            if src in self.inputs or src in self.initializers or src in self.outputs:
                return False
            producer = next((n for n in self._nodes if src in n.outputs), None)
            if producer is None:
                return False
            self.remove_nodes([node])
            producer.outputs = [dst if o == src else o for o in producer.outputs]
            self.replace_uses(src, dst)
            self.move_provenance(src, dst)
            return True
        self.remove_nodes([node])
        self.replace_uses(dst, src)
        self.move_provenance(dst, src)
        return True

    def fold(self, node: ONode, value: np.ndarray) -> None:
        """Replace a single-output node by the constant it computes (no longer an IR value's
        computation: its provenance goes)."""
        out = node.outputs[0]
        self.remove_nodes([node])
        self.initializers[out] = np.asarray(value, order="C")
        self.tensor_origin.pop(out, None)
        self.info.pop(out, None)

    def remove_unused(self) -> int:
        """Dead-code elimination: drop nodes and initializers no graph output needs."""
        needed = set(self.outputs)
        kept = []
        for n in reversed(self._nodes):
            if any(o in needed for o in n.outputs if o):
                kept.append(n)
                needed.update(i for i in n.inputs if i)
        removed = len(self._nodes) - len(kept)
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

    def check(self) -> None:
        """Invariants (tests call this after every pass): the consumer index matches the
        nodes, every tensor with provenance is computed by a node or is a graph input, each
        tensor has one producer."""
        index = {k: sorted(id(n) for n in v) for k, v in self._index().items() if v}
        fresh: Dict[str, List[int]] = {}
        for n in self._nodes:
            for i in n.inputs:
                if i:
                    fresh.setdefault(i, []).append(id(n))
        assert index == {k: sorted(v) for k, v in fresh.items()}, "stale consumer index"
        produced: Dict[str, int] = {}
        for n in self._nodes:
            for o in n.outputs:
                if o:
                    assert o not in produced, f"tensor {o} has two producers"
                    produced[o] = 1
        for t in self.tensor_origin:
            assert t in produced or t in self.inputs, f"provenance of a dead tensor {t}"
