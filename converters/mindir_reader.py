"""Read a MINDIR file into the IR of `ir.py`.

MINDIR (mindspore/core/proto/mind_ir.proto) stores one main FuncGraph (`ModelProto.graph`),
optionally further FuncGraphs (`ModelProto.functions`) called by name, and the primitives
(`ModelProto.primitives`) that nodes reference as ``op_type = "REF::<primitive name>"``.
MindSpore 2.x records a node's inferred output type(s) in its ``shape`` attribute and its full
scope name in ``domain``. Constants are ``Constant`` nodes, shared by name across graphs.

Newer "PRIMITIVE_FUNCTION" primitives take their arguments (axis, keep_dims, masks, ...) as
node inputs; older "PRIMITIVE" ones carry them as primitive attributes. Both end up in
`ir.Node` (inputs and attrs) and handlers read whichever is present.

The reader evaluates the graph symbolically so that the IR contains only computations:
plumbing nodes are resolved, sub-graph calls are inlined, `Switch`es whose condition folds to a
constant (MindSpore keeps some Python-level shape checks as control flow in dynamic-shape
graphs) are resolved, and scalar arithmetic on constants is folded.
"""
import functools
import operator
import os
from typing import Any, Dict, List, Optional

import numpy as np

from . import ir
from .errors import ConversionError
from .mindir_proto import MONAD, decode_attribute, tensor_info, tensor_to_numpy
from .tensor_index import normalize_tuple_index, remove_expanded_dims, slice_to_indices
from .tuple_index import (OUTPUT_COUNT as _TUPLE_INDEX_OUTPUTS, STATIC_EXPORT_REMEDY,
                          broadcast_dims, get_tuple_index_info)

_MAX_CALL_DEPTH = 64  # a (corrupt) self-calling graph must not recurse forever

_IDENTITY_OPS = {"Load", "Depend", "Return", "StopGradient", "stop_gradient"}
_TUPLE_OPS = {"MakeTuple", "make_tuple", "MakeList", "make_list"}
_GETITEM_OPS = {"TupleGetItem", "tuple_getitem", "ListGetItem", "list_getitem", "RealTupleGetItem"}
# shape-only index helpers of a getitem/setitem on a dynamic shape, folded at read time
_INDEX_HELPERS = {"SliceToIndices": 4, "NormalizeTupleIndex": 2, "RemoveExpandedDims": 5}
# what the reader folds, and when it refuses instead (SUPPORT.md lists these)
FOLDED_AT_READ_TIME = {
    "GetTupleIndexInfo": "entries other than tensors, slices and an ellipsis (None, bool); an "
                         "empty index tensor; setitem by bool",
    "SliceToIndices": "bounds known only at run time (slices of run-time axes convert, "
                      "clamped by run-time nodes; a plain one with step 1 then copies its rows "
                      "with TensorCopySlices, a Concat)",
    "NormalizeTupleIndex": "an int or sequence index of an axis of run-time size; bool "
                           "sequences and slices",
    "RemoveExpandedDims": "its flags depend on run-time values",
    "SequenceSlice": "a tensor or run-time bounds", "SequenceAdd": "not two tuples",
}
_SCALAR_FOLD = {
    "ScalarAdd": operator.add, "scalar_add": operator.add,
    "ScalarSub": operator.sub, "scalar_sub": operator.sub,
    "ScalarMul": operator.mul, "scalar_mul": operator.mul,
    "ScalarDiv": operator.truediv, "scalar_div": operator.truediv,
    "ScalarFloorDiv": operator.floordiv, "scalar_floordiv": operator.floordiv,
    "ScalarMod": operator.mod, "scalar_mod": operator.mod,
    "ScalarEq": operator.eq, "scalar_eq": operator.eq,
    "ScalarNe": operator.ne, "scalar_ne": operator.ne,
    "ScalarLt": operator.lt, "scalar_lt": operator.lt,
    "ScalarGt": operator.gt, "scalar_gt": operator.gt,
    "ScalarLe": operator.le, "scalar_le": operator.le,
    "ScalarGe": operator.ge, "scalar_ge": operator.ge,
    "is_": lambda a, b: a is b or (a is None and b is None) or (
        isinstance(a, bool) and isinstance(b, bool) and a == b),
    "is_not": lambda a, b: not (a is b or (isinstance(a, bool) and isinstance(b, bool) and a == b)),
    "BoolNot": operator.not_, "bool_not": operator.not_, "not_": operator.not_,
    "BoolAnd": lambda a, b: a and b, "BoolOr": lambda a, b: a or b,
}
# Scalar arithmetic that may also run on run-time dimensions (kept as IR nodes then).
_SCALAR_RUNTIME = {"ScalarAdd", "ScalarSub", "ScalarMul", "ScalarFloorDiv", "ScalarDiv",
                   "scalar_add", "scalar_sub", "scalar_mul", "scalar_floordiv", "scalar_div"}


class _FuncRef:
    def __init__(self, name):
        self.name = name


class _Closure:
    def __init__(self, target, bound):
        self.target, self.bound = target, list(bound)


def _is_literal(x) -> bool:
    if isinstance(x, ir.Value):
        return False
    if isinstance(x, (tuple, list)):
        return all(_is_literal(e) for e in x)
    return True


def short_name(name: str) -> str:
    """'2438_..._construct_213:CNode_215:1' -> 'CNode_215:1' (drop the owning graph's name)."""
    head, sep, tail = name.partition(":")
    return tail if sep and "_" in head and head.split("_")[0].isdigit() else name


class _Frame:
    def __init__(self, graph, parent: Optional["_Frame"], prefix: str, depth: int):
        self.graph, self.parent, self.prefix, self.depth = graph, parent, prefix, depth
        self.env: Dict[str, Any] = {}


class MindIRReader:
    def __init__(self, model, base_dir: str):
        self.model = model
        self.base_dir = base_dir
        self.prims = {p.name: p for p in model.primitives}
        self.functions = {f.name: f for f in model.functions}
        self.const_protos = {}
        for g in [model.graph, *model.functions]:
            for n in g.node:
                if n.op_type == "Constant":
                    for out in n.output:
                        self.const_protos[out] = n
        self.constants: Dict[str, Any] = {}
        self.parameters: Dict[str, ir.Value] = {}
        self.param_by_proto_name: Dict[str, ir.Value] = {}
        self.prim_attrs: Dict[str, dict] = {}
        self.nodes: List[ir.Node] = []
        self.node_names = set()
        self.symbolic = False  # a graph input has a symbolic dimension
        # GetTupleIndexInfo folding: id(tensor Value) -> (the Value, its dimensions), and the
        # run-time dimensions it took as > 0 by id (the Values are kept, so ids stay unique)
        self.dims_of: Dict[int, tuple] = {}
        self.nonzero_dims: Dict[int, ir.Value] = {}
        # clamped bounds of run-time slices (tensor_index), whose equality (an empty slice)
        # MindSpore's plain-slice setitem branches on
        self.slice_bounds: Dict[tuple, tuple] = {}

    # ------------------------------------------------------------------ entry point
    def read(self) -> ir.Graph:
        g = self.model.graph
        if not g.node and not g.input:
            raise ConversionError("the file holds no graph: not a MindSpore MINDIR model")
        for graph in [g, *self.model.functions]:
            for p in graph.parameter:
                self._add_parameter(p)
        frame = _Frame(g, None, "", 0)
        inputs = []
        for inp in g.input:
            if not inp.tensor:
                raise ConversionError(f"graph input '{inp.name}' has no tensor type")
            dtype, shape = tensor_info(inp.tensor[0])
            if dtype is None:
                raise ConversionError(f"graph input '{inp.name}' has an unsupported data type")
            v = ir.Value(short_name(inp.name), dtype, shape, "input")
            self.symbolic = self.symbolic or shape is None or None in shape
            frame.env[inp.name] = v
            inputs.append(v)
        self._run(frame)
        if not g.output:
            raise ConversionError("the graph has no outputs")
        outputs = []
        for out in g.output:
            self._flatten_output(self._resolve(frame, out.name), outputs)
        graph = ir.Graph(short_name(g.name), inputs, outputs, self.nodes, self.parameters)
        graph.prune()
        return graph

    def _flatten_output(self, value, acc):
        if isinstance(value, (tuple, list)):
            for v in value:
                self._flatten_output(v, acc)
        elif isinstance(value, ir.Value):
            acc.append(value)
        elif isinstance(value, (bool, int, float, np.number, np.bool_)):
            # a Python constant the network returns (YOLOX in eval mode: (detections, 1)):
            # ONNX outputs are tensors, so a 0-d one, int64/float32 as MindSpore's scalars
            data = np.asarray(value)
            if data.dtype == np.float64:
                data = data.astype(np.float32)
            acc.append(ir.Value(f"output_constant_{len(acc)}", data.dtype, (), "constant",
                                data=data))
        else:
            raise ConversionError(f"a graph output is a constant ({value!r}), not a tensor")

    def _add_parameter(self, p):
        name = short_name(p.name)
        if p.name in self.param_by_proto_name:
            return
        data = tensor_to_numpy(p, self.base_dir)
        v = ir.Value(name, data.dtype, tuple(data.shape), "parameter", data=data)
        self.parameters[name] = v
        self.param_by_proto_name[p.name] = v

    # ------------------------------------------------------------------ evaluation
    def _run(self, frame: _Frame):
        """Evaluate a graph's nodes in dependency order (Kahn, stable in file order)."""
        nodes = [n for n in frame.graph.node if n.op_type != "Constant"]
        # a REF:: node may call a closure computed by another node: that node comes first
        reads = [list(n.input) + ([n.op_type[5:]] if n.op_type.startswith("REF::") else [])
                 for n in nodes]
        order = ir.dependency_order(reads, [n.output for n in nodes])
        for i in order:
            self._eval(frame, nodes[i])
        if len(order) != len(nodes):
            raise ConversionError(f"graph '{frame.graph.name}' has a dependency cycle")

    def _resolve(self, frame: _Frame, name: str):
        f = frame
        while f is not None:
            if name in f.env:
                return f.env[name]
            f = f.parent
        if name in self.param_by_proto_name:
            return self.param_by_proto_name[name]
        if name in self.constants:
            return self.constants[name]
        if name in self.const_protos:
            value = self._decode_constant(self.const_protos[name])
            self.constants[name] = value
            return value
        if name in self.functions:
            return _FuncRef(name)
        raise ConversionError(f"node input '{name}' is not defined in the MINDIR")

    def _decode_constant(self, node):
        attrs = [a for a in node.attribute if a.name == "value"] or list(node.attribute)
        if not attrs:
            raise ConversionError(f"constant '{node.name}' has no value")
        value = decode_attribute(attrs[0], self.base_dir)
        if isinstance(value, np.ndarray):
            return ir.Value(short_name(node.output[0]), value.dtype, tuple(value.shape),
                            "constant", data=value)
        return value

    def _output_info(self, node):
        for a in node.attribute:
            if a.name == "shape":
                return _type_info(a)
        return None

    def _eval(self, frame: _Frame, node):
        ref = node.op_type[5:] if node.op_type.startswith("REF::") else node.op_type
        inputs = [self._resolve(frame, i) for i in node.input]
        out_name = node.output[0] if node.output else node.name
        if ref in self.prims:
            result = self._primitive(frame, node, self.prims[ref], inputs)
        elif ref in self.functions:
            result = self._call(frame, node, _FuncRef(ref), inputs)
        else:
            target = self._resolve(frame, ref)
            result = self._call(frame, node, target, inputs)
        frame.env[out_name] = result

    def _call(self, frame, node, target, args):
        if isinstance(target, _Closure):
            args = target.bound + list(args)
            target = target.target
        if not isinstance(target, _FuncRef):
            raise ConversionError(f"node '{node.name}' calls something that is not a graph")
        if frame.depth >= _MAX_CALL_DEPTH:
            raise ConversionError(f"sub-graph calls nest deeper than {_MAX_CALL_DEPTH} "
                                  f"(recursive graph?) at '{node.name}'")
        g = self.functions[target.name]
        if len(g.input) != len(args):
            raise ConversionError(f"'{node.name}' calls '{target.name}' with {len(args)} "
                                  f"arguments, it takes {len(g.input)}")
        callee = _Frame(g, frame, frame.prefix + short_name(node.name) + "/", frame.depth + 1)
        for inp, arg in zip(g.input, args):
            callee.env[inp.name] = arg
        self._run(callee)
        outs = [self._resolve(callee, o.name) for o in g.output]
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _attrs(self, prim) -> dict:
        attrs = self.prim_attrs.get(prim.name)
        if attrs is None:
            attrs = {}
            for a in prim.attribute:
                if a.name in ("input_names", "output_names"):
                    continue
                try:
                    attrs[a.name] = decode_attribute(a, self.base_dir)
                except ConversionError:
                    pass  # an attribute no handler reads must not block conversion
            self.prim_attrs[prim.name] = attrs
        return attrs

    def _primitive(self, frame, node, prim, inputs):
        op = prim.op_type
        if op in _IDENTITY_OPS:
            if not inputs:
                raise ConversionError(f"'{node.name}' ({op}) has no input")
            return inputs[0]
        if op == "UpdateState":
            return MONAD
        if op in _TUPLE_OPS:
            return tuple(inputs)
        if op in _GETITEM_OPS:
            seq, index = inputs[0], inputs[1]
            if not isinstance(seq, (tuple, list)) or not isinstance(index, int):
                raise ConversionError(f"'{node.name}' indexes something that is not a tuple")
            return seq[index]
        if op == "Partial":
            return _Closure(inputs[0], inputs[1:])
        if op == "Switch":
            cond = inputs[0]
            if not isinstance(cond, (bool, np.bool_)):
                raise ConversionError(
                    f"'{node.name}' branches on a run-time value (data-dependent control "
                    f"flow), which ONNX export does not support")
            return inputs[1] if cond else inputs[2]
        if op == "InSequence":
            try:
                return _in_sequence(node, inputs, self.nonzero_dims)
            except ConversionError as exc:
                raise ConversionError(str(exc) + self._static_export_hint()) from exc
        if op in ("TupleLen", "ListLen", "sequence_len", "SequenceLen"):
            return len(inputs[0])
        if op in ("tuple_equal", "TupleEqual", "list_equal"):
            return _sequence_equal(node, inputs)
        if op == "GetTupleIndexInfo":
            return self._tuple_index_info(frame, node, prim, inputs)
        if op in _INDEX_HELPERS:
            return self._index_helper(frame, node, prim, op, inputs)
        if op in ("SequenceSlice", "SequenceAdd") and all(
                isinstance(x, (tuple, list)) or _is_literal(x) for x in inputs):
            return _sequence_op(node, op, inputs)
        if op == "SequenceSlice" and inputs and isinstance(inputs[0], (tuple, list)):
            # a shape tuple cut at a run-time dimension: the length of the result, and so the
            # rank of what it shapes, would be known only at run time
            raise ConversionError(
                f"'{node.name}' (SequenceSlice) cuts a shape tuple at a position known only at "
                "run time (a run-time dimension used as a slice bound), which makes a rank "
                "data-dependent; ONNX needs it at conversion time" + self._static_export_hint())
        if op in _SCALAR_FOLD and all(_is_literal(x) for x in inputs):
            return _SCALAR_FOLD[op](*inputs)
        if op in ("ScalarEq", "scalar_eq") and len(inputs) == 2 and \
                (_scalar_key(inputs[0]), _scalar_key(inputs[1])) in self.slice_bounds:
            # start == stop of a run-time slice (nothing selected): the branch for a
            # non-empty slice copies an empty range there, which leaves the data as the
            # empty branch returns it, so it serves every size
            return False
        if op in _SCALAR_FOLD and op not in _SCALAR_RUNTIME:
            raise ConversionError(f"'{node.name}' ({op}) compares run-time values: "
                                  "data-dependent control flow is not supported"
                                  + self._static_export_hint())
        return self._make_node(frame, node, prim, op, inputs)

    def _static_export_hint(self) -> str:
        """What to do when a symbolic-shape export kept Python-level shape logic (MindSpore's
        setitem on a dynamic shape computes its indices and branches at run time)."""
        if not self.symbolic:
            return ""
        return ("; this MINDIR has symbolic input dimensions and keeps shape logic for run "
                "time (MindSpore's setitem/getitem on dynamic shapes): " + STATIC_EXPORT_REMEDY)

    def _make_node(self, frame, node, prim, op, inputs):
        name = frame.prefix + short_name(node.name)
        while name in self.node_names:  # the same sub-graph inlined twice from one site
            name += "'"
        self.node_names.add(name)
        irn = ir.Node(name, op, [x for x in inputs if x is not MONAD], [], self._attrs(prim),
                      node.domain)
        info = self._output_info(node)
        if op == "Shape" and irn.inputs and isinstance(irn.inputs[0], ir.Value):
            return self._shape_node(irn)
        if info is None:
            info = [(None, None)]
        if isinstance(info, tuple) and info[1] is None:
            info = (info[0], _shape_when_rank_unknown(op, irn.inputs))
        single = not isinstance(info, list)
        for i, (dtype, shape) in enumerate([info] if single else info):
            irn.outputs.append(ir.Value(name if single else f"{name}.{i}", dtype, shape, "node",
                                        irn, i))
        self.nodes.append(irn)
        return irn.outputs[0] if single else tuple(irn.outputs)

    def _dims(self, frame, node, x) -> tuple:
        """A tensor's dimensions: ints, and scalar Values of a Shape node for symbolic ones."""
        if not isinstance(x, ir.Value) or x.shape is None:
            raise ConversionError(f"'{node.name}' needs the shape of a tensor of known rank")
        if id(x) not in self.dims_of:
            if x.is_static:
                dims = tuple(int(d) for d in x.shape)
            else:
                name = self._fresh_name(frame, node, "/shape")
                dims = self._shape_node(ir.Node(name, "Shape", [x], [], {}, node.domain))
            self.dims_of[id(x)] = (x, dims)
        return self.dims_of[id(x)][1]

    def _tuple_index_info(self, frame, node, prim, inputs):
        """Fold GetTupleIndexInfo into shape tuples (see `tuple_index`)."""
        info = self._output_info(node)
        if not isinstance(info, list) or len(info) != _TUPLE_INDEX_OUTPUTS:
            raise ConversionError(f"'{node.name}' (GetTupleIndexInfo) has an output layout this "
                                  f"converter does not know (expected {_TUPLE_INDEX_OUTPUTS} "
                                  "outputs, as MindSpore 2.10 writes)")
        attrs = self._attrs(prim)
        types = attrs.get("tuple_index_types")
        if not isinstance(types, (tuple, list)) or len(inputs) < 2:
            raise ConversionError(f"'{node.name}' (GetTupleIndexInfo) lacks its index types")
        data = self._dims(frame, node, inputs[0])
        shapes = [self._dims(frame, node, x) for x in inputs[2:]]

        def maximum(a, b):
            return self._int64_node(frame, node, "Maximum", [a, b], (), "/max")

        result = get_tuple_index_info(node.name, types, shapes, maximum,
                                      str(attrs.get("tuple_index_info_type", "") or ""),
                                      data, inputs[1], int(attrs.get("expand_dims_cnt", 0)))
        for v in ir.iter_values(result):
            self.nonzero_dims[id(v)] = v
        return result

    def _index_helper(self, frame, node, prim, op, inputs):
        """Fold SliceToIndices, NormalizeTupleIndex and RemoveExpandedDims (see
        `tensor_index`): their tensor inputs count only by their shapes."""
        if len(inputs) != _INDEX_HELPERS[op]:
            raise ConversionError(f"'{node.name}' ({op}) takes {_INDEX_HELPERS[op]} inputs, "
                                  f"it has {len(inputs)}")
        attrs = self._attrs(prim)
        data = self._dims(frame, node, inputs[0])
        if op == "SliceToIndices":
            result = slice_to_indices(node.name, data, *inputs[1:], attrs,
                                      _RunTimeScalars(self, frame, node))
        elif op == "NormalizeTupleIndex":
            result = normalize_tuple_index(node.name, data, inputs[1], attrs,
                                           lambda size: self._arange(frame, node, size))
        else:
            value, has_false, broadcast, fancy = inputs[1:]
            if isinstance(has_false, ir.Value) and has_false.data is not None:
                has_false = int(np.asarray(has_false.data).reshape(-1)[0])
            result = remove_expanded_dims(node.name, data, self._dims(frame, node, value),
                                          has_false, broadcast, fancy, attrs)
        if not isinstance(result, tuple):
            result = (result,)
        folded = tuple(self._constant(frame, node, x, i) if isinstance(x, np.ndarray) else x
                       for i, x in enumerate(result))
        return folded if len(folded) > 1 else folded[0]

    def _constant(self, frame, node, data: np.ndarray, i: int) -> ir.Value:
        return ir.Value(self._fresh_name(frame, node, f"/const{i}"), data.dtype,
                        tuple(data.shape), "constant", data=data)

    def _arange(self, frame, node, size) -> ir.Value:
        """An int64 arange(size) node for a run-time dimension."""
        return self._int64_node(frame, node, "Range", [0, size, 1], (None,), "/arange")

    def _int64_node(self, frame, node, op: str, operands, shape, suffix: str) -> ir.Value:
        """One int64 node of `op` over `operands` (Python ints become constants)."""
        operands = [self._constant(frame, node, np.array(v, np.int64), k)
                    if isinstance(v, (int, np.integer)) else v for k, v in enumerate(operands)]
        irn = ir.Node(self._fresh_name(frame, node, suffix), op, operands, [], {}, node.domain)
        out = ir.Value(irn.name, np.dtype(np.int64), shape, "node", irn, 0)
        irn.outputs.append(out)
        self.nodes.append(irn)
        return out

    def _fresh_name(self, frame, node, suffix: str) -> str:
        name = frame.prefix + short_name(node.name) + suffix
        while name in self.node_names:
            name += "'"
        self.node_names.add(name)
        return name

    def _shape_node(self, irn):
        """Shape(x) as a tuple: static dimensions as ints, symbolic ones as scalar Values."""
        x = irn.inputs[0]
        if x.shape is None:
            raise ConversionError(f"'{irn.name}' takes the shape of a tensor of unknown rank")
        result = []
        for i, d in enumerate(x.shape):
            v = ir.Value(f"{irn.name}.{i}", np.dtype(np.int64), (), "node", irn, i)
            irn.outputs.append(v)
            result.append(d if d is not None else v)
        self.nodes.append(irn)
        return tuple(result)


class _RunTimeScalars:
    """`tensor_index.RunTimeScalars` for one folded node: its int64 scalar and index nodes
    go into the reader's graph, named after it."""

    def __init__(self, reader, frame, node):
        self.reader, self.frame, self.node = reader, frame, node

    def arange(self, size) -> ir.Value:
        return self.reader._arange(self.frame, self.node, size)

    def binary(self, op: str, a, b) -> ir.Value:
        return self.reader._int64_node(self.frame, self.node, op, [a, b], (), "/" + op.lower())

    def nonzero(self, v) -> None:
        if isinstance(v, ir.Value):
            self.reader.nonzero_dims[id(v)] = v

    def column(self, indices) -> ir.Value:
        return self.reader._int64_node(self.frame, self.node, "ExpandDims", [indices, -1],
                                       (None, 1), "/column")

    def bounds(self, first, last) -> None:
        self.reader.slice_bounds[(_scalar_key(first), _scalar_key(last))] = (first, last)

    def range(self, start, stop, step: int) -> ir.Value:
        return self.reader._int64_node(self.frame, self.node, "Range", [start, stop, step],
                                       (None,), "/range")


def _scalar_key(x):
    if isinstance(x, ir.Value):
        return ("value", id(x))
    return ("int", int(x)) if isinstance(x, (int, np.integer)) else ("other", id(x))


def _dim(d):
    return int(d) if isinstance(d, (int, np.integer)) and d >= 0 else None


def _shape_when_rank_unknown(op, inputs):
    """The output shape of the ops that follow a folded GetTupleIndexInfo, which MindSpore
    records as of unknown rank although their shape arguments fix it; None otherwise."""
    shapes = [x.shape if isinstance(x, ir.Value) else None for x in inputs]
    if op in ("Reshape", "BroadcastTo") and len(inputs) > 1 and \
            isinstance(inputs[1], (tuple, list)):
        return tuple(_dim(d) for d in inputs[1])
    if op == "ExpandDims" and shapes and shapes[0] is not None and len(inputs) > 1 \
            and isinstance(inputs[1], int):
        rank = len(shapes[0]) + 1
        axis = inputs[1] % rank
        return shapes[0][:axis] + (1,) + shapes[0][axis:]
    if op == "Concat" and inputs and isinstance(inputs[0], (tuple, list)) and \
            all(isinstance(x, ir.Value) and x.shape is not None for x in inputs[0]) and \
            len({len(x.shape) for x in inputs[0]}) == 1 and len(inputs) > 1 and \
            isinstance(inputs[1], int):
        parts = [x.shape for x in inputs[0]]
        axis = inputs[1] % len(parts[0])
        size = [p[axis] for p in parts]
        out = [d if len({p[i] for p in parts}) == 1 else None for i, d in enumerate(parts[0])]
        out[axis] = sum(size) if None not in size else None
        return tuple(out)
    if op in _ELEMENTWISE:
        tensors = [s for x, s in zip(inputs, shapes) if isinstance(x, ir.Value)]
        if tensors and all(s is not None for s in tensors):
            return tuple(functools.reduce(
                lambda a, b: broadcast_dims(a, b, maximum=lambda x, y: None), tensors))
    if op == "GatherNd" and len(shapes) > 1 and shapes[0] is not None and \
            shapes[1] is not None and shapes[1] and shapes[1][-1] is not None:
        return shapes[1][:-1] + shapes[0][shapes[1][-1]:]
    return None


# element-wise ops (scalar operands aside): the output shape broadcasts the inputs'
_ELEMENTWISE = {"Muls", "Adds", "Mul", "Add", "Sub", "RealDiv", "Div", "FloorDiv", "Maximum",
                "Minimum", "Neg", "Abs", "Exp", "Log", "Sigmoid", "Tanh", "ReLU", "Sqrt",
                "Square", "Pow", "Cast"}


def _sequence_op(node, op, inputs):
    """SequenceSlice / SequenceAdd of shape tuples (entries may be run-time dimensions)."""
    if op == "SequenceAdd":
        if len(inputs) != 2 or not all(isinstance(x, (tuple, list)) for x in inputs):
            raise ConversionError(f"'{node.name}' (SequenceAdd) needs two tuples")
        return tuple(inputs[0]) + tuple(inputs[1])
    if len(inputs) != 4 or not isinstance(inputs[0], (tuple, list)) or not all(
            isinstance(b, int) and not isinstance(b, bool) for b in inputs[1:]):
        raise ConversionError(f"'{node.name}' (SequenceSlice) needs a tuple and literal bounds")
    if inputs[3] == 0:
        raise ConversionError(f"'{node.name}' (SequenceSlice) has a step of 0")
    return tuple(inputs[0][inputs[1]:inputs[2]:inputs[3]])


def _sequence_equal(node, inputs):
    a, b = inputs[0], inputs[1]
    if not isinstance(a, (tuple, list)) or not isinstance(b, (tuple, list)):
        raise ConversionError(f"'{node.name}' compares something that is not a tuple")
    if len(a) != len(b):
        return False
    if any(_is_literal(x) and _is_literal(y) and x != y for x, y in zip(a, b)):
        return False
    if all(x is y or (_is_literal(x) and _is_literal(y)) for x, y in zip(a, b)):
        return True
    raise ConversionError(f"'{node.name}' compares tuples of run-time values")


def _in_sequence(node, inputs, nonzero_dims=frozenset()):
    item, seq = inputs[0], inputs[1]
    if not isinstance(seq, (tuple, list)):
        raise ConversionError(f"'{node.name}' (InSequence) needs a tuple")
    if not _is_literal(item):
        raise ConversionError(f"'{node.name}' (InSequence) tests a run-time value")
    known = [e for e in seq if _is_literal(e)]
    if item in known:
        return True
    runtime = [e for e in seq if not _is_literal(e)]
    # Run-time tuple entries here are tensor dimensions, which are never negative: MindSpore
    # uses this to test for its "unknown rank" marker -2.
    if all(isinstance(e, ir.Value) and e.producer is not None and e.producer.op_type == "Shape"
           for e in runtime) and isinstance(item, int) and item < 0:
        return False
    # `0 in final_shape` after a folded GetTupleIndexInfo, which takes its dimensions as > 0
    if item == 0 and isinstance(item, int) and all(id(e) in nonzero_dims for e in runtime):
        return False
    if not runtime:
        return False
    raise ConversionError(f"'{node.name}' (InSequence) depends on run-time values")


def _type_info(a):
    """Output types from a node's ``shape`` attribute: (dtype, shape) or a list for tuples."""
    if a.type == 19 and a.tensors:        # TENSORS
        return tensor_info(a.tensors[0])
    if a.type == 39:                      # SCALAR
        dtype = tensor_info(a.tensors[0])[0] if a.tensors else None
        return (dtype, ())
    if a.type == 20:                      # TUPLE
        out = []
        for v in a.values:
            info = _type_info(v)
            out.append(info if isinstance(info, tuple) else (None, None))
        return out
    return None


_PB2 = None


def load_mind_ir_pb2():
    """MindSpore's generated `mind_ir_pb2` module, without importing all of MindSpore.

    `import mindspore` takes about a second; the protobuf module alone needs only protobuf.
    """
    global _PB2
    if _PB2 is None:
        import importlib.util
        import sys
        mod = sys.modules.get("mindspore.train.mind_ir_pb2")
        if mod is None:
            spec = importlib.util.find_spec("mindspore")
            if spec is None or not spec.submodule_search_locations:
                raise ConversionError("MindSpore is not installed (needed for its MINDIR schema)")
            path = os.path.join(list(spec.submodule_search_locations)[0], "train", "mind_ir_pb2.py")
            pb_spec = importlib.util.spec_from_file_location("_converters_mind_ir_pb2", path)
            mod = importlib.util.module_from_spec(pb_spec)
            pb_spec.loader.exec_module(mod)
        _PB2 = mod
    return _PB2


def _parse_model(path: str):
    """The ModelProto of a .mindir file; ConversionError for anything unreadable."""
    from google.protobuf.message import DecodeError
    mind_ir_pb2 = load_mind_ir_pb2()

    if not os.path.exists(path):
        raise ConversionError(f"MINDIR file not found: {path}")
    if not os.path.isfile(path):
        raise ConversionError(f"not a file: {path}")
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise ConversionError(f"{path} is empty")
    model = mind_ir_pb2.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise ConversionError(f"{path} is not a valid MINDIR file (truncated or corrupt: "
                              f"protobuf decoding failed: {str(exc)[:120]})") from exc
    return model


def mindir_input_shapes(path: str) -> List[List[Optional[int]]]:
    """The graph inputs' shapes as the file records them (None for a symbolic dimension),
    without reading the graph; ConversionError for anything unreadable."""
    model = _parse_model(path)
    shapes = []
    try:
        for inp in model.graph.input:
            shape = tensor_info(inp.tensor[0])[1] if len(inp.tensor) else None
            shapes.append([None if d is None or (isinstance(d, int) and d < 0) else int(d)
                           for d in (shape or [])])
    except Exception as exc:  # a damaged file can break any assumption about its structure
        raise ConversionError(f"{path} has malformed graph inputs ({type(exc).__name__})") \
            from exc
    return shapes


def read_mindir(path: str) -> ir.Graph:
    """Parse a .mindir file into an `ir.Graph`; ConversionError for anything unreadable."""
    model = _parse_model(path)
    reader = MindIRReader(model, os.path.dirname(os.path.abspath(path)))
    try:
        return reader.read()
    except ConversionError as exc:
        raise ConversionError(f"{path}: {exc}") from exc
    except (RecursionError, MemoryError) as exc:
        raise ConversionError(f"{path} is malformed: {type(exc).__name__}") from exc
    except Exception as exc:  # a mutated file can break any assumption about its structure
        raise ConversionError(f"{path} is not a well-formed MINDIR graph "
                              f"({type(exc).__name__}: {str(exc)[:160]})") from exc
