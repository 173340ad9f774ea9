"""Lowering: IR nodes -> ONNX nodes, one registered handler per MindSpore primitive."""
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from . import ir, ir_constants, primitive_args
from .errors import ConversionError, UnsupportedOpsError
from .handlers import registry
from .onnx_graph import FrozenList, ONode, OnnxGraph, TensorInfo

_MISSING = primitive_args.MISSING
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


class NodeContext:
    """What a handler sees: the IR node's arguments, and ways to emit ONNX nodes."""

    def __init__(self, lowering: "Lowering", node: ir.Node):
        self.lowering = lowering
        self.node = node
        self.graph = lowering.graph
        self.opset = lowering.opset

    # ---------------------------------------------------------------- reading arguments
    def arg(self, pos: int, name: Optional[str] = None, default: Any = _MISSING):
        """Argument `pos` (node input) or primitive attribute `name`, else `default`
        (`primitive_args.raw`: legacy PRIMITIVE ops keep their configuration as attributes)."""
        return primitive_args.raw(self.node, pos, name, default)

    def const(self, pos: int, name: Optional[str] = None, default: Any = _MISSING):
        """A compile-time argument as a Python value (numpy array for tensors)."""
        return primitive_args.constant(self.node, pos, name, default)

    def literal(self, x, what="argument"):
        return primitive_args.literal(self.node, x, what)

    def is_const(self, pos: int) -> bool:
        x = self.node.inputs[pos] if pos < len(self.node.inputs) else None
        return _is_constant(x)

    def value(self, pos: int) -> ir.Value:
        x = self.arg(pos)
        if not isinstance(x, ir.Value):
            raise ConversionError(f"{self.where()}: input {pos} must be a tensor")
        return x

    def in_shape(self, pos: int = 0):
        x = self.arg(pos)
        return x.shape if isinstance(x, ir.Value) else np.shape(x)

    def in_rank(self, pos: int = 0) -> int:
        shape = self.in_shape(pos)
        if shape is None:
            raise ConversionError(f"{self.where()}: input {pos} has unknown rank")
        return len(shape)

    def in_dtype(self, pos: int = 0):
        x = self.arg(pos)
        return x.dtype if isinstance(x, ir.Value) else np.asarray(x).dtype

    def out_shape(self, i: int = 0):
        return self.node.outputs[i].shape if i < len(self.node.outputs) else None

    def out_dtype(self, i: int = 0):
        dt = self.node.outputs[i].dtype if i < len(self.node.outputs) else None
        return dt if dt is not None else self.in_dtype(0)

    def where(self) -> str:
        return primitive_args.where(self.node)

    def note(self, message: str) -> None:
        """Record that this node's ONNX differs from MindSpore's behaviour on purpose
        (`Conversion.notes`): the user is told, the conversion goes on."""
        self.graph.notes.append(f"{self.where()}: {message}")

    # ---------------------------------------------------------------- ONNX tensors
    def tensor(self, pos: int, dtype=None) -> str:
        """The ONNX tensor of input `pos`; literals become initializers (of `dtype` if given)."""
        return self.lowering.tensor_of(self.arg(pos), dtype)

    def tensor_of(self, x, dtype=None) -> str:
        return self.lowering.tensor_of(x, dtype)

    def ints(self, x) -> str:
        """A 1-D int64 tensor from a tuple of ints and run-time scalars (shape vectors)."""
        if _is_constant(x):
            return self.initializer(np.asarray(self.literal(x), dtype=np.int64).reshape(-1))
        if isinstance(x, ir.Value):
            t = self.lowering.tensor_of(x)
            if x.dtype != np.int64:
                t = self.make("Cast", [t], to=np.dtype(np.int64))
            return t if x.rank == 1 else self.make("Reshape", [t, self.initializer(
                np.array([-1], np.int64))])
        parts = []
        run = []
        for e in x:
            if _is_constant(e):
                run.append(int(self.literal(e)))
                continue
            if run:
                parts.append(self.initializer(np.array(run, np.int64)))
                run = []
            t = self.lowering.tensor_of(e)
            if e.dtype != np.int64:
                t = self.make("Cast", [t], to=np.dtype(np.int64))
            parts.append(self.unsqueeze(t, [0]) if e.rank == 0 else t)
        if run:
            parts.append(self.initializer(np.array(run, np.int64)))
        return parts[0] if len(parts) == 1 else self.make("Concat", parts, axis=0)

    def initializer(self, array, hint: str = "const") -> str:
        return self.graph.add_initializer(np.asarray(array), hint)

    # ---------------------------------------------------------------- emitting nodes
    def make(self, op_type: str, inputs: Sequence[str], outputs: Union[int, List[str]] = 1,
             **attrs) -> Union[str, List[str]]:
        n_out = outputs if isinstance(outputs, int) else len(outputs)
        # frozen lists the graph adopts as they are (no copy per node on large graphs)
        outs = FrozenList([self.graph.fresh(op_type) for _ in range(n_out)]
                          if isinstance(outputs, int) else outputs)
        clean = {k: v for k, v in attrs.items() if v is not None}
        self.graph.add_node(ONode(op_type, FrozenList(inputs), outs, clean, origin=[self.node]))
        return outs[0] if isinstance(outputs, int) and n_out == 1 else outs

    def set_output(self, name: str, i: int = 0) -> None:
        self.lowering.bind(self.node.outputs[i], name)

    # ---------------------------------------------------------------- opset-aware helpers
    def unsqueeze(self, x: str, axes: Sequence[int]) -> str:
        return self.make("Unsqueeze", [x, self.initializer(np.array(axes, np.int64))])

    def squeeze(self, x: str, axes: Sequence[int]) -> str:
        return self.make("Squeeze", [x, self.initializer(np.array(axes, np.int64))])

    def reduce(self, op_type: str, x: str, axes: Optional[Sequence[int]], keepdims: bool) -> str:
        """ReduceXxx with axes as attribute (< 18) or input (>= 18; ReduceSum >= 13)."""
        axes_as_input = self.opset >= 18 or op_type == "ReduceSum"
        if axes is None or len(axes) == 0:
            return self.make(op_type, [x], keepdims=int(keepdims))
        if axes_as_input:
            return self.make(op_type, [x, self.initializer(np.array(axes, np.int64))],
                             keepdims=int(keepdims))
        return self.make(op_type, [x], axes=[int(a) for a in axes], keepdims=int(keepdims))

    def dim(self, x: str, axis: int) -> str:
        """x's dimension `axis` at run time, a 0-d int64."""
        return self.make("Gather", [self.make("Shape", [x]),
                                    self.initializer(np.array(axis, np.int64))], axis=0)

    def arange(self, n: str) -> str:
        """0, 1, ..., n - 1 (int64) for a 0-d int64 `n` known at run time."""
        return self.make("Range", [self.initializer(np.array(0, np.int64)), n,
                                   self.initializer(np.array(1, np.int64))])

    def cast(self, x: str, dtype) -> str:
        return self.make("Cast", [x], to=np.dtype(dtype))

    def scalar_like(self, value, dtype=None) -> str:
        return self.initializer(np.array(value, dtype=dtype or self.out_dtype()))


_is_constant = primitive_args.is_constant


class Lowering:
    def __init__(self, graph: ir.Graph, opset: int):
        self.ir_graph = graph
        self.opset = opset
        self.graph = OnnxGraph(graph.name)
        self.names: Dict[int, str] = {}

    def tensor_of(self, x, dtype=None) -> str:
        if isinstance(x, ir.Value):
            name = self.names.get(id(x))
            if name is not None:
                if dtype is not None and x.data is not None and x.dtype != np.dtype(dtype):
                    return self.graph.add_initializer(x.data.astype(dtype))
                return name
            if x.data is None:
                raise ConversionError(f"tensor '{x.name}' is used before it is computed")
            data = x.data if dtype is None else x.data.astype(dtype)
            if x.kind == "parameter" and dtype is None:
                self.graph.initializers[x.name] = data
                self.names[id(x)] = x.name
                return x.name
            name = self.graph.add_initializer(data)
            if dtype is None:
                self.names[id(x)] = name
            return name
        if isinstance(x, (tuple, list)) and not _is_constant(x):
            raise ConversionError("a tuple of run-time values cannot be used as a tensor here")
        arr = np.asarray(x, dtype=dtype) if dtype is not None else np.asarray(x)
        if arr.dtype == np.float64 and dtype is None:
            arr = arr.astype(np.float32)
        return self.graph.add_initializer(arr)

    def bind(self, value: ir.Value, name: str) -> None:
        self.names[id(value)] = name
        if value.producer is not None and name not in self.graph.tensor_origin \
                and name not in self.graph.initializers:
            self.graph.tensor_origin[name] = (value.producer.name, value.index)
        if name not in self.graph.info and name not in self.graph.initializers:
            self.graph.info[name] = TensorInfo(value.dtype, value.shape)

    def check_supported(self) -> None:
        check_supported(self.ir_graph, self.opset)

    def run(self) -> OnnxGraph:
        self.check_supported()
        g = self.graph
        for v in self.ir_graph.inputs:
            g.inputs.append(v.name)
            self.bind(v, v.name)
        used = {id(v) for n in self.ir_graph.nodes for v in ir.iter_values(n.inputs)}
        used.update(id(v) for v in self.ir_graph.outputs)
        for node in self.ir_graph.nodes:
            g.ir_nodes[node.name] = node
            ctx = NodeContext(self, node)
            handler = registry.lookup(node.op_type, self.opset)
            try:
                handler(ctx)
            except ConversionError as exc:
                if node.name in str(exc):
                    raise
                raise ConversionError(f"{ctx.where()}: {exc}") from exc
            except Exception as exc:  # a handler meeting input it does not expect
                raise ConversionError(f"{ctx.where()}: cannot convert "
                                      f"({type(exc).__name__}: {exc})") from exc
            for out in node.outputs:
                if id(out) in used and id(out) not in self.names:
                    raise ConversionError(f"{ctx.where()}: output {out.index} is used but the "
                                          "converter does not produce it")
        for i, v in enumerate(self.ir_graph.outputs):
            name = self.tensor_of(v)
            if name in g.inputs or name in g.initializers or name in g.outputs:
                copy = g.fresh("output")
                g.add_node(ONode("Identity", [name], [copy],
                                 origin=[v.producer] if v.producer else []))
                g.info[copy] = TensorInfo(v.dtype, v.shape)
                name = copy
            g.outputs.append(name)
        return g


def check_supported(graph: ir.Graph, opset: int) -> None:
    """Every primitive without a handler at `opset`, in one UnsupportedOpsError. Runs before
    anything else looks at the graph (the batch analysis included), so a user sees the whole
    list at once rather than the first problem some later stage trips over."""
    from . import handlers  # noqa: F401  (registers every handler)
    missing: Dict[str, list] = {}
    for node in graph.nodes:
        if registry.lookup(node.op_type, opset) is None:
            entry = missing.setdefault(node.op_type, [0, node.scope or node.name])
            entry[0] += 1
    if missing:
        from .handlers.refused import REFUSED
        reasons = dict(REFUSED)
        for name in missing:
            first = registry.opsets(name)
            if first and first[0] > opset:  # a handler exists from a later opset on
                reasons[name] = f"needs opset >= {first[0]}"
        raise UnsupportedOpsError({k: (c, ex) for k, (c, ex) in missing.items()}, opset,
                                  reasons=reasons)


def lower(graph: ir.Graph, opset: int) -> OnnxGraph:
    from . import handlers  # noqa: F401  (registers every handler)
    return Lowering(graph, opset).run()


ir_constants.use_lowering(Lowering)
