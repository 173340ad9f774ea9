"""An editable ONNX-level graph: what lowering produces, passes rewrite and the writer serialises.

Plain Python objects instead of protobuf keep passes simple and fast. Every node remembers the
IR nodes it came from (`origin`), and the graph remembers which of its tensors hold exactly the
value of an IR node output (`tensor_origin`): that is the provenance the writer records.
"""
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np


class FrozenList(list):
    """A node's inputs or outputs once the node is in a graph: read like a list, edited only
    through OnnxGraph's helpers (which keep the indexes right)."""

    __slots__ = ()  # no per-list __dict__: lowering makes two per node

    def _refuse(self, *args, **kwargs):
        raise TypeError("a graph node's inputs/outputs are edited through OnnxGraph helpers "
                        "(set_inputs, set_outputs, replace_uses, ...)")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __reduce__(self):  # copy/deepcopy/pickle would rebuild it through append
        return FrozenList, (list(self),)


@dataclass(eq=False)
class ONode:
    op_type: str
    inputs: List[str]                 # "" marks an omitted optional input
    outputs: List[str]
    attrs: Dict[str, Any] = field(default_factory=dict)
    name: str = ""
    origin: List[Any] = field(default_factory=list)  # ir.Node(s) this node implements
    domain: str = ""


class _LiveNode(ONode):
    """The class of an ONode while it is in a graph (switched back when it leaves): assigning
    its inputs/outputs would bypass the indexes. A class switch, not a check in ONode, keeps
    building nodes as cheap as before."""

    def __setattr__(self, key, value):
        if key in ("inputs", "outputs"):
            raise AttributeError(f"{key} of a graph node is set through OnnxGraph helpers "
                                 "(set_inputs, set_outputs, ...)")
        object.__setattr__(self, key, value)




def _release(node: ONode) -> None:
    """A node leaving the graph is an ordinary, editable ONode again."""
    d = node.__dict__
    d["inputs"], d["outputs"] = list(node.inputs), list(node.outputs)
    node.__class__ = ONode


@dataclass
class TensorInfo:
    dtype: Optional[np.dtype]
    shape: Optional[Tuple[Any, ...]]  # dims: int, None (unknown) or str (symbolic name)


class OnnxGraph:
    """Nodes in topological order, initializers, graph inputs/outputs, per-tensor info and
    provenance. `nodes` is a read-only tuple; passes edit the graph only through the helpers
    below (add, rewire, rename, remove, replace, bypass, fold), which keep the producer and
    consumer indexes, the membership set and the provenance right on every edit, so
    `producer_of`, `users_of` and `node in og` are O(1) and never stale. Reading `inputs`,
    `outputs`, `initializers` and `info` directly is fine."""

    def __init__(self, name: str):
        self.name = name
        self._nodes: List[ONode] = []
        self._view: Optional[Tuple[ONode, ...]] = ()   # `nodes`, rebuilt after an edit
        self._live: Set[int] = set()                   # id() of every node in the graph
        self._users: Dict[str, List[ONode]] = {}       # tensor -> consumers (one per read)
        self._producer: Dict[str, ONode] = {}          # tensor -> the node writing it
        self.initializers: Dict[str, np.ndarray] = {}
        self.inputs: List[str] = []
        self.outputs: List[str] = []
        self.info: Dict[str, TensorInfo] = {}          # known dtype/shape per tensor
        self.tensor_origin: Dict[str, Tuple[str, int]] = {}  # tensor -> (IR node name, output)
        self.ir_nodes: Dict[str, Any] = {}             # IR node name -> ir.Node
        self.generated = set()                         # names made up by fresh()
        self._counter = 0
        self.visiting: Optional[ONode] = None  # the node a pass is looking at (for errors)
        # where the ONNX deliberately computes something other than MindSpore would (a
        # behaviour ONNX cannot express), one line each, told to the user with the result
        self.notes: List[str] = []

    # ---------------------------------------------------------------- nodes
    @property
    def nodes(self) -> Tuple[ONode, ...]:
        if self._view is None:
            self._view = tuple(self._nodes)
        return self._view

    def __contains__(self, node: ONode) -> bool:
        return id(node) in self._live

    def is_live(self, node: ONode) -> bool:
        """`node` is in the graph (not removed or replaced); O(1)."""
        return id(node) in self._live

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
        if id(node) in self._live:
            raise ValueError(f"{node.op_type} node is already in the graph")
        if position is None:
            self._nodes.append(node)
        else:
            self._nodes.insert(position, node)
        self._view = None
        self._link(node)
        return node

    def each(self, *op_types: str):
        """The nodes (of these op types; all without any) as they are now, one at a time,
        skipping any an earlier step removed; the current one is `visiting`, so a pass that
        fails can name the node it was on."""
        for n in [n for n in self._nodes if not op_types or n.op_type in op_types]:
            if id(n) not in self._live:
                continue
            self.visiting = n
            yield n
        self.visiting = None

    def describe(self, node: ONode) -> str:
        """A node as a user can find it: its ONNX op and the MindSpore node(s) it came from."""
        src = "; ".join(f"{getattr(o, 'op_type', '?')} '{getattr(o, 'scope', '') or o.name}'"
                        for o in node.origin[:2])
        return f"{node.op_type} node {node.name or node.outputs[0]!r}" + \
            (f" (from MindSpore {src})" if src else "")

    # ---------------------------------------------------------------- indexes
    def _link(self, node: ONode) -> None:
        d = node.__dict__
        inputs, outputs = d["inputs"], d["outputs"]
        if type(inputs) is not FrozenList:  # lowering hands over frozen lists: no copy
            inputs = d["inputs"] = FrozenList(inputs)
        if type(outputs) is not FrozenList:
            outputs = d["outputs"] = FrozenList(outputs)
        node.__class__ = _LiveNode
        self._live.add(id(node))
        self._add_reads(node, inputs)
        producer = self._producer
        for o in outputs:
            if o:
                producer[o] = node

    def _unlink(self, node: ONode) -> None:
        self._live.discard(id(node))
        self._drop_reads(node, node.inputs)
        for o in node.outputs:
            if o and self._producer.get(o) is node:
                del self._producer[o]
        _release(node)

    def _add_reads(self, node: ONode, tensors) -> None:
        users = self._users
        for i in tensors:
            if i:
                readers = users.get(i)
                if readers is None:  # not setdefault: no list made per call (lowering is hot)
                    users[i] = [node]
                else:
                    readers.append(node)

    def _drop_reads(self, node: ONode, tensors) -> None:
        for i in set(tensors):
            users = self._users.get(i)
            if users is not None:
                users = [u for u in users if u is not node]
                if users:
                    self._users[i] = users
                else:
                    del self._users[i]

    def _reindex(self, nodes: List[ONode]) -> None:
        """Make `nodes` the graph's nodes and rebuild every index (wholesale edits)."""
        keep = {id(n) for n in nodes}
        for n in self._nodes:
            if id(n) not in keep:
                _release(n)
        self._nodes, self._view = list(nodes), None
        self._live, self._users, self._producer = set(), {}, {}
        for n in self._nodes:
            self._link(n)

    # ---------------------------------------------------------------- queries
    def producer_of(self, tensor: str) -> Optional[ONode]:
        return self._producer.get(tensor)

    def users_of(self, tensor: str) -> List[ONode]:
        """Consumers of `tensor`, a node once per input that reads it."""
        return list(self._users.get(tensor, ()))

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
        """Rewire `node`'s inputs."""
        if id(node) not in self._live:
            node.inputs = list(inputs)
            return
        self._drop_reads(node, node.inputs)
        node.__dict__["inputs"] = FrozenList(inputs)
        self._add_reads(node, node.inputs)

    def set_outputs(self, node: ONode, outputs: List[str]) -> None:
        """Make `node` write `outputs` (provenance is the caller's business)."""
        if id(node) not in self._live:
            node.outputs = list(outputs)
            return
        for o in node.outputs:
            if o and self._producer.get(o) is node:
                del self._producer[o]
        node.__dict__["outputs"] = FrozenList(outputs)
        for o in node.outputs:
            if o:
                self._producer[o] = node

    def replace_uses(self, old: str, new: str) -> None:
        """Make every consumer (and graph output) of `old` read `new` instead."""
        for n in {id(u): u for u in self._users.get(old, ())}.values():
            self.set_inputs(n, [new if i == old else i for i in n.inputs])
        if old in self.outputs:
            self.outputs = [new if o == old else o for o in self.outputs]

    def rename_tensor(self, old: str, new: str) -> None:
        """Rename a tensor everywhere: producers, consumers, graph I/O, tables, provenance."""
        producer = self._producer.get(old)
        if producer is not None:
            self.set_outputs(producer, [new if o == old else o for o in producer.outputs])
        self.replace_uses(old, new)
        self.inputs = [new if i == old else i for i in self.inputs]
        for table in (self.initializers, self.info, self.tensor_origin):
            if old in table:
                table[new] = table.pop(old)

    def rename_all(self, rename: Dict[str, str]) -> None:
        """Many renames at once (naming passes); same guarantees as rename_tensor."""
        r = rename.get
        for n in self._nodes:
            d = n.__dict__
            d["inputs"] = [r(i, i) for i in n.inputs]
            d["outputs"] = [r(o, o) for o in n.outputs]
        self._reindex(self._nodes)
        self.inputs = [r(i, i) for i in self.inputs]
        self.outputs = [r(o, o) for o in self.outputs]
        self.initializers = {r(k, k): v for k, v in self.initializers.items()}
        self.info = {r(k, k): v for k, v in self.info.items()}
        self.tensor_origin = {r(k, k): v for k, v in self.tensor_origin.items()}

    def remove_nodes(self, nodes) -> None:
        """Drop nodes; provenance of outputs nobody produces any more goes with them."""
        nodes = list(nodes)
        ids = {id(n) for n in nodes if id(n) in self._live}
        if ids:
            self._nodes = [n for n in self._nodes if id(n) not in ids]
            self._view = None
            for n in nodes:
                if id(n) in self._live:
                    self._unlink(n)
        for n in nodes:
            for o in n.outputs:
                if o not in self._producer:
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
        self.set_outputs(node, [absorbed.outputs[0]] + list(node.outputs[1:]))
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
            producer = self._producer.get(src)
            if producer is None:
                return False
            self.remove_nodes([node])
            self.set_outputs(producer, [dst if o == src else o for o in producer.outputs])
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
        self._reindex(kept)
        for name in list(self.initializers):
            if name not in needed:
                del self.initializers[name]
        live = needed | set(self.inputs)
        for table in (self.info, self.tensor_origin):
            for name in [k for k in table if k not in live]:
                del table[name]
        return removed

    def check(self) -> None:
        """Invariants (run after every pass under COAT_EXPORT_CHECK_GRAPH=1): the live indexes
        and membership set equal a rebuild from the nodes, each tensor has one producer, every
        tensor with provenance is computed by a node or is a graph input."""
        def require(ok, what):
            if not ok:  # not `assert`: python -O must not turn the check off
                raise AssertionError(what)

        ids = [id(n) for n in self._nodes]
        require(len(set(ids)) == len(ids), "a node is listed twice")
        require(set(ids) == self._live, "stale membership set")
        require(self._view is None or list(self._view) == self._nodes, "stale node view")
        users: Dict[str, List[int]] = {}
        produced: Dict[str, int] = {}
        for n in self._nodes:
            require(isinstance(n.inputs, FrozenList) and isinstance(n.outputs, FrozenList)
                    and type(n) is _LiveNode, f"{n.op_type} node edited behind the graph's back")
            for i in n.inputs:
                if i:
                    users.setdefault(i, []).append(id(n))
            for o in n.outputs:
                if o:
                    require(o not in produced, f"tensor {o} has two producers")
                    produced[o] = id(n)
        require({k: sorted(id(u) for u in v) for k, v in self._users.items()} ==
                {k: sorted(v) for k, v in users.items()}, "stale consumer index")
        require({k: id(v) for k, v in self._producer.items()} == produced,
                "stale producer index")
        for t in self.tensor_origin:
            require(t in produced or t in self.inputs, f"provenance of a dead tensor {t}")
