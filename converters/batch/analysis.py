"""Make the batch dimension of a static-shape IR graph symbolic, where that can be proven.

An IR-level rewrite (it runs before lowering, apart from the ONNX-level passes).
MindSpore folds the batch size of a static export into shape constants (Reshape targets such
as (1, 257, 32)). This pass walks the graph and tracks, per tensor, which axis carries the
batch and how (`state`: the batch as a factor of one dimension), with `rules`; the graph
inputs carry it on axis 0. Each primitive's handler declares its batch rule, which checks that the operator never
mixes samples, says where the batch axis goes (through transposes, reshapes that keep the batch
as an outer factor, splits, unstacks and slices) and returns rewrites of batch-size constants (a Reshape
target gets -1 there, a slice end equal to the batch becomes "to the end"). Anything that could
mix samples or depend on the batch value is refused with a ConversionError naming the node.

A MINDIR exported with a symbolic batch (`Tensor(shape=[None, ...])`) needs none of this: its
shapes are already symbolic and the handlers emit run-time shape arithmetic.
"""
from .. import ir
from ..errors import ConversionError
from .rules import first_slice_if_uniform
from .state import (BatchState, Refuse, apply_rewrites, common_outer, repeat_over_batch,
                    where)


# a rule's readings tried, in all, before the first refusal stands (each try walks the graph)
MAX_TRIES = 64


def make_batch_dynamic(graph: ir.Graph) -> int:
    """Rewrite `graph` in place; returns the static batch size that became symbolic."""
    if not graph.inputs:
        raise ConversionError("--dynamic_batch: the graph has no inputs")
    dims = {v.shape[0] if v.shape else "scalar" for v in graph.inputs}
    if None in dims:
        return 0  # already symbolic in the MINDIR
    if len(dims) != 1 or "scalar" in dims:
        raise ConversionError(f"--dynamic_batch: graph inputs disagree on a batch dimension "
                              f"({[v.shape for v in graph.inputs]})")
    batch = int(dims.pop())
    plan, seeds, first, nodes = {}, {}, None, None
    for _ in range(MAX_TRIES):
        st = BatchState(batch, plan)
        repeats, undo = _repeat_seeds(graph, seeds, st)
        try:
            nodes, rewrites = _walk(graph, st)
            nodes = repeats + nodes
            break
        except Refuse as exc:
            first = first or exc
            _undo(undo)
            new = [s for s in getattr(exc, "sources", ()) if id(s[0]) not in seeds]
            if new:  # the readings are searched again with these repeated over the batch
                seeds.update((id(v), (v, axes)) for v, axes in new)
                plan.clear()
            elif not _next_plan(plan, st.points):
                break
        except BaseException:
            _undo(undo)
            raise
    if nodes is None:
        raise ConversionError(f"--dynamic_batch: cannot prove the batch axis survives: "
                              f"{first}") from first
    # only a reading that held through the whole graph changes it
    for node, rw in rewrites:
        apply_rewrites(node, rw)
    graph.nodes = nodes
    for v in graph.values():
        axis = st.of(v)
        if axis is not None and v.shape:
            v.shape = tuple(None if i == axis else d for i, d in enumerate(v.shape))
    return batch


def _repeat_seeds(graph: ir.Graph, seeds, st: BatchState):
    """Every node input that is a seeded constant (uniform along axes of the export's batch
    size, `rules.Reseed`) becomes its first slice repeated over the run-time batch on one of
    them (a reading, `BatchState.choose`; _BroadcastBatch of graph input 0's batch), a batch
    tensor. Returns (the new nodes, [(node, its inputs before)] to undo)."""
    if not seeds:
        return [], []
    made, undo, repeats = {}, [], []
    for node in graph.nodes:
        positions = [i for i, x in enumerate(node.inputs)
                     if isinstance(x, ir.Value) and id(x) in seeds]
        if not positions:
            continue
        undo.append((node, list(node.inputs)))
        for i in positions:
            x = node.inputs[i]
            if id(x) not in made:
                v, axes = seeds[id(x)]
                axis = st.choose(v, axes)  # (L*D, N, H) zeros: the batch may be either
                made[id(x)] = repeat_over_batch(f"{v.name}/repeated_over_batch",
                                                first_slice_if_uniform(v, axis),
                                                graph.inputs[0], axis, v.shape, node.scope, st)
                repeats.append(made[id(x)].producer)
            node.inputs[i] = made[id(x)]
    return repeats, undo


def _undo(undo) -> None:
    for node, inputs in undo:
        node.inputs[:] = inputs


def _next_plan(plan, points) -> bool:
    """Chronological backtracking: the latest choice with a reading left takes its next one,
    the choices after it start again from their first. False when none is left."""
    while points:
        node_id, count = points.pop()
        if plan.get(node_id, 0) + 1 < count:
            plan[node_id] = plan.get(node_id, 0) + 1
            return True
        plan.pop(node_id, None)
    return False


def _walk(graph: ir.Graph, st: BatchState):
    """Every node's batch rule in order: (the node list with inserted producers, the
    rewrites to apply). Raises Refuse."""
    from ..handlers import registry  # importing the handlers registers every batch rule
    for v in graph.inputs:
        st.set(v, 0)
    nodes, rewrites = [], []
    seen = {id(n) for n in graph.nodes}
    for node in graph.nodes:
        carriers = [v for v in ir.iter_values(node.inputs) if st.carries(v)]
        if not carriers:
            nodes.append(node)
            continue
        try:
            rule = registry.batch_rule(node.op_type)
            if rule is None:
                raise Refuse(f"{where(node)}: no batch rule for {node.op_type}")
            outer = _outer_of_inputs(node, rule, st, carriers)
            rw = rule(node, st)
            if outer != 1 and getattr(rule, "keeps_outer", False):
                for out in node.outputs:
                    if st.carries(out):
                        st.set(out, st.of(out), outer)
        except ConversionError:
            raise  # Refuse: another reading may hold; anything else ends the conversion
        except Exception as exc:  # malformed node arguments: name the node, never a traceback
            raise ConversionError(f"--dynamic_batch: {where(node)} has arguments the batch "
                                  f"analysis cannot read ({type(exc).__name__}: "
                                  f"{str(exc)[:160]})") from exc
        nodes.extend(_new_producers(rw, seen))
        rewrites.append((node, rw))
        nodes.append(node)
    return nodes, rewrites


def _outer_of_inputs(node, rule, st: BatchState, carriers) -> int:
    if all(st.outer(v) == 1 for v in carriers) or getattr(rule, "sets_outer", False):
        return 1
    if not getattr(rule, "keeps_outer", False):
        raise Refuse(f"{where(node)} takes a tensor whose batch axis also holds another "
                     f"dimension (a flattened time-major sequence), which it cannot keep apart")
    return common_outer(node, st, carriers)


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
