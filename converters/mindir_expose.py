"""Expose inner MINDIR nodes as graph outputs: a rewritten copy that MindSpore itself can run.

    exposed = expose_nodes(open("net.mindir", "rb").read(), ["CNode_174", "CNode_180"])
    # exposed.data: MINDIR bytes whose graph returns (original output, *exposed.nodes' values)

The copy's main graph returns one extra ``MakeTuple`` node (referencing a ``MakeTuple``
primitive the file already declares) whose inputs are the original output followed by the
outputs of the chosen nodes. Each tuple element carries the node's own ``shape`` attribute
(the inferred output type MindSpore 2.x records there), so `mindspore.load` +
`nn.GraphCell` accept the file and compute every value with MindSpore, never with this
converter. A node with several outputs comes back as one tuple element holding a tuple.

Node names are those `read_mindir` gives IR nodes of the main graph (`ir.Node.name`, the
proto name without its owning graph's prefix, e.g. ``CNode_174``). Nodes of called sub-graphs
(inlined by the reader, their names prefixed), constants and nodes without a recorded output
type are left out; `ExposedMindir.nodes` says which were exposed, in output order.
"""
from dataclasses import dataclass
from typing import Iterable, List, Union

from .errors import ConversionError
from .mindir_reader import load_mind_ir_pb2, short_name

__all__ = ["ExposedMindir", "expose_nodes", "EXPOSE_NODE_NAME"]

EXPOSE_NODE_NAME = "coat_check_probe"  # the added MakeTuple node and the new graph output


@dataclass(frozen=True)
class ExposedMindir:
    """A rewritten MINDIR: its graph returns (original output, *values of `nodes`)."""

    data: bytes        # serialised ModelProto
    nodes: List[str]   # exposed node names, for outputs 1..n (a name may repeat)


def expose_nodes(model: Union[bytes, object], node_names: Iterable[str]) -> ExposedMindir:
    """A copy of `model` (MINDIR bytes or a parsed ``mind_ir_pb2.ModelProto``, left unchanged)
    whose main graph also returns the outputs of `node_names` (see the module docstring).

    ConversionError when the file cannot be rewritten: unparsable bytes, no ``MakeTuple``
    primitive to reference, more than one graph output, or an output without a recorded type.
    """
    pb = load_mind_ir_pb2()
    copy = pb.ModelProto()
    if isinstance(model, (bytes, bytearray, memoryview)):
        from google.protobuf.message import DecodeError
        try:
            copy.ParseFromString(bytes(model))
        except (DecodeError, ValueError, RuntimeError) as exc:
            raise ConversionError(f"not a valid MINDIR (protobuf decoding failed: "
                                  f"{str(exc)[:120]})") from exc
    else:
        copy.CopyFrom(model)
    g = copy.graph
    wanted = set(node_names)
    shape_attr = {}  # node output -> its `shape` attribute (the inferred output type)
    exposed = []     # (node name, output tensor)
    for n in g.node:
        if n.op_type == "Constant" or not n.output:
            continue
        attrs = [a for a in n.attribute if a.name == "shape"]
        if attrs:
            shape_attr[n.output[0]] = attrs[0]
        if attrs and short_name(n.name) in wanted:
            exposed.append((short_name(n.name), n.output[0]))
    make_tuple = [p.name for p in copy.primitives if p.op_type == "MakeTuple"]
    if not make_tuple:
        raise ConversionError("the MINDIR declares no MakeTuple primitive to return a tuple with")
    if len(g.output) != 1:
        raise ConversionError(f"the MINDIR graph has {len(g.output)} outputs, not one")
    final = g.output[0].name
    if final not in shape_attr:
        raise ConversionError(f"the MINDIR graph's output '{final}' has no recorded type")
    node = g.node.add()
    node.name = node.domain = EXPOSE_NODE_NAME
    node.op_type = "REF::" + make_tuple[0]
    node.output.append(EXPOSE_NODE_NAME)
    tuple_attr = node.attribute.add()
    tuple_attr.name = "shape"
    tuple_attr.type = pb.AttributeProto.TUPLE
    for name in [final] + [o for _, o in exposed]:
        node.input.append(name)
        tuple_attr.values.add().CopyFrom(shape_attr[name])
    tuple_attr.seq_info.is_dyn_len = False
    # the graph now returns the tuple: its output describes a tuple, not a tensor
    out = g.output[0]
    out.name = EXPOSE_NODE_NAME
    out.denotation = "Tuple"
    out.ClearField("tensor")
    out.attr_info.CopyFrom(tuple_attr)
    return ExposedMindir(copy.SerializeToString(), [name for name, _ in exposed])
