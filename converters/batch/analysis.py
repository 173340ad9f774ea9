"""Make the batch dimension of a static-shape IR graph symbolic, where that can be proven.

An IR-level rewrite (it runs before lowering, apart from the ONNX-level passes).
MindSpore folds the batch size of a static export into shape constants (Reshape targets such
as (1, 257, 32)). This pass walks the graph and tracks, per tensor, which axis carries the
batch as the outermost factor of its size (`state`, `rules`); the graph inputs carry it on
axis 0. Each primitive's handler declares its batch rule, which checks that the operator never
mixes samples, says where the batch axis goes (through transposes, reshapes that keep the batch
as an outer factor, splits, unstacks and slices) and returns rewrites of batch-size constants (a Reshape
target gets -1 there, a slice end equal to the batch becomes "to the end"). Anything that could
mix samples or depend on the batch value is refused with a ConversionError naming the node.

A MINDIR exported with a symbolic batch (`Tensor(shape=[None, ...])`) needs none of this: its
shapes are already symbolic and the handlers emit run-time shape arithmetic.
"""
from .. import ir
from ..errors import ConversionError
from .state import BatchState, Refuse, apply_rewrites, where


def make_batch_dynamic(graph: ir.Graph) -> int:
    """Rewrite `graph` in place; returns the static batch size that became symbolic."""
    from ..handlers import registry  # importing the handlers registers every batch rule
    if not graph.inputs:
        raise ConversionError("--dynamic_batch: the graph has no inputs")
    dims = {v.shape[0] if v.shape else "scalar" for v in graph.inputs}
    if None in dims:
        return 0  # already symbolic in the MINDIR
    if len(dims) != 1 or "scalar" in dims:
        raise ConversionError(f"--dynamic_batch: graph inputs disagree on a batch dimension "
                              f"({[v.shape for v in graph.inputs]})")
    batch = int(dims.pop())
    st = BatchState(batch)
    for v in graph.inputs:
        st.set(v, 0)
    nodes = []
    seen = {id(n) for n in graph.nodes}
    for node in graph.nodes:
        if not any(st.carries(v) for v in ir.iter_values(node.inputs)):
            nodes.append(node)
            continue
        try:
            rule = registry.batch_rule(node.op_type)
            if rule is None:
                raise Refuse(f"{where(node)}: no batch rule for {node.op_type}")
            rewrites = rule(node, st)
            nodes.extend(_new_producers(rewrites, seen))
            apply_rewrites(node, rewrites)
        except Refuse as exc:
            raise ConversionError(f"--dynamic_batch: cannot prove the batch axis survives: "
                                  f"{exc}") from exc
        except ConversionError:
            raise
        except Exception as exc:  # malformed node arguments: name the node, never a traceback
            raise ConversionError(f"--dynamic_batch: {where(node)} has arguments the batch "
                                  f"analysis cannot read ({type(exc).__name__}: "
                                  f"{str(exc)[:160]})") from exc
        nodes.append(node)
    graph.nodes = nodes
    for v in graph.values():
        axis = st.of(v)
        if axis is not None and v.shape:
            v.shape = tuple(None if i == axis else d for i, d in enumerate(v.shape))
    return batch


def _new_producers(rewrites, seen):
    """The nodes a rule created to compute its replacement inputs (a constant repeated over the
    batch): they go in front of the node they feed."""
    out = []
    for v in ir.iter_values(list((rewrites or {}).values())):
        p = v.producer if v.kind == "node" else None
        if p is not None and id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out
