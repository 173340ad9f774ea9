"""Seeded mutation fuzzing of the converter on small MINDIR files.

    python fuzz_mindir.py OUT.json SEED COUNT MEM_LIMIT_MB A.mindir [B.mindir ...]

Runs in its own process (the test starts it) so that an address-space limit bounds memory:
each mutant must either convert to a model that passed the converter's own gate (full ONNX
checker + ONNX Runtime load) or raise ConversionError with no file written, within 20 s.
Mutants are byte-level (bit flips, overwritten/deleted/duplicated/truncated spans) and
protobuf-level (dims, dtypes, op types, inputs, attribute values, inferred shapes, external
data pointing outside the directory, at a FIFO, a device or a short file), and shape-level:
sizes that stay consistent with the bytes but not with each other (a weight's dims permuted,
a bias given another rank, a graph input's channels changed), which only running the model
reveals. A converted mutant is then run once in ONNX Runtime: a file the converter wrote
that cannot run is a finding ("unrunnable"). Results go to OUT.json: one record per mutant
with kind, outcome, seconds and any unexpected exception.
"""
import json
import os
import resource
import signal
import sys
import time
import traceback

import numpy as np


from coat_export import converters  # noqa: E402
from coat_export.converters.mindir_reader import load_mind_ir_pb2  # noqa: E402

PER_MUTANT_S = 20


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


# ----------------------------------------------------------------------------- byte level

def byte_mutant(data: bytes, rng) -> bytes:
    b = bytearray(data)
    kind = rng.randint(0, 6)
    # most of a small MINDIR's structure sits outside the weight bytes: bias towards the head
    # and the tail (primitives, graph inputs/outputs) as well as uniform positions
    def pos():
        r = rng.rand()
        if r < 0.4:
            return int(rng.randint(0, min(len(b), 4000)))
        if r < 0.6:
            return int(rng.randint(max(0, len(b) - 4000), len(b)))
        return int(rng.randint(0, len(b)))
    if kind == 0:                                   # bit flips
        for _ in range(int(rng.randint(1, 8))):
            p = pos()
            b[p] ^= 1 << int(rng.randint(0, 8))
    elif kind == 1:                                 # random bytes over a span
        p = pos()
        n = int(rng.randint(1, 16))
        b[p:p + n] = rng.bytes(n)
    elif kind == 2:                                 # delete a span
        p = pos()
        del b[p:p + int(rng.randint(1, 64))]
    elif kind == 3:                                 # duplicate a span
        p = pos()
        b[p:p] = b[p:p + int(rng.randint(1, 64))]
    elif kind == 4:                                 # truncate
        b = b[:pos()]
    else:                                           # varint blown up to a huge length
        p = pos()
        b[p:p + 1] = bytes([0xFF] * int(rng.randint(2, 9)) + [0x7F])
    return bytes(b)


# ----------------------------------------------------------------------------- protobuf level

def _graphs(model):
    return [model.graph, *model.functions]


def _nodes(model):
    return [n for g in _graphs(model) for n in g.node]


def _tensor_params(model):
    return [p for g in _graphs(model) for p in g.parameter]


def _pick(rng, seq):
    return seq[int(rng.randint(0, len(seq)))] if len(seq) else None


BAD_DIMS = [0, -1, -7, 1 << 31, 1 << 40, (1 << 62), 3, 1]
EXTERNAL = ["/etc/passwd", "../../etc/passwd", "../outside.bin", "fifo", "/dev/zero",
            "short.bin", "link_out", "sub/../../outside.bin", "", "data_ok.bin"]


def shape_mutant(model, rng) -> str:
    """Sizes that agree with the stored bytes but not with the graph: the reader accepts
    them, ONNX's shape inference does not relate them; only a run can refuse them."""
    kind = int(rng.randint(0, 3))
    params = [p for p in _tensor_params(model) if len(p.dims) >= 1]
    if kind == 0:                                   # a weight's dims permuted
        multi = [p for p in params if len(p.dims) >= 2 and len(set(p.dims)) > 1]
        p = _pick(rng, multi)
        if p is not None:
            dims = list(p.dims)
            order = list(rng.permutation(len(dims)))
            while [dims[i] for i in order] == dims:
                order = list(rng.permutation(len(dims)))
            p.dims[:] = [dims[i] for i in order]
        return "weight_permuted"
    if kind == 1:                                   # a parameter given another rank
        p = _pick(rng, [q for q in params if len(q.dims) <= 2 and max(q.dims) > 1])
        if p is not None:
            if rng.rand() < 0.5:
                p.dims.append(1)
            else:
                p.dims.insert(0, 1)
                p.dims.append(1)
        return "param_rank"
    g = model.graph                                 # a graph input's channels
    if g.input and g.input[0].tensor and len(g.input[0].tensor[0].dims) >= 2:
        t = g.input[0].tensor[0]
        t.dims[1] = int(_pick(rng, [t.dims[1] + 1, max(1, t.dims[1] - 1), 2 * t.dims[1]]))
    return "input_channels"


def runs_once(path: str) -> str:
    """'' when ONNX Runtime runs the written model, else the reason. Its own inputs, not the
    gate's: symbolic dimensions 2 (the gate uses 1), floats uniform, integers zero."""
    import onnxruntime as ort

    types = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
             "tensor(double)": np.float64, "tensor(int64)": np.int64,
             "tensor(int32)": np.int32, "tensor(bool)": np.bool_}
    so = ort.SessionOptions()
    so.log_severity_level = 4
    so.intra_op_num_threads = 1
    rng = np.random.RandomState(7)
    try:
        session = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        feeds = {}
        for inp in session.get_inputs():
            shape = [d if isinstance(d, int) and d > 0 else 2 for d in inp.shape]
            dtype = types.get(inp.type, np.float32)
            feeds[inp.name] = (rng.uniform(-2, 2, shape).astype(dtype)
                               if np.issubdtype(dtype, np.floating) else np.zeros(shape, dtype))
        session.run(None, feeds)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:300]
    return ""


def proto_mutant(model, rng, workdir: str) -> str:
    """Mutate `model` in place; returns a short description of the mutation."""
    kind = int(rng.randint(0, 13))
    if kind >= 11:
        return "shape:" + shape_mutant(model, rng)
    nodes = [n for n in _nodes(model) if n.op_type != "Constant"]
    params = _tensor_params(model)
    if kind == 0 and params:                        # a parameter's dims
        p = _pick(rng, params)
        if p.dims:
            i = int(rng.randint(0, len(p.dims)))
            p.dims[i] = int(_pick(rng, BAD_DIMS))
        return "param_dims"
    if kind == 1 and params:                        # a parameter's dtype
        _pick(rng, params).data_type = int(rng.randint(0, 20))
        return "param_dtype"
    if kind == 2 and params:                        # external data instead of raw bytes
        p = _pick(rng, params)
        nbytes = len(p.raw_data)
        p.ClearField("raw_data")
        loc = _pick(rng, EXTERNAL)
        p.external_data.location = loc
        p.external_data.offset = int(_pick(rng, [0, 0, 1, 1 << 40]))
        p.external_data.length = int(_pick(rng, [0, nbytes, nbytes + 1, 1 << 33]))
        return f"external:{loc}"
    if kind == 3 and nodes:                         # an op type replaced
        n = _pick(rng, nodes)
        prims = [p.name for p in model.primitives]
        n.op_type = _pick(rng, ["REF::" + _pick(rng, prims), "Bogus", "REF::nothing", ""])
        return "op_type"
    if kind == 4 and model.primitives:              # a primitive's type renamed
        p = _pick(rng, model.primitives)
        p.op_type = _pick(rng, [q.op_type for q in model.primitives] + ["Nope", ""])
        return "primitive_type"
    if kind == 5 and nodes:                         # an input rewired or dropped
        n = _pick(rng, nodes)
        if n.input:
            i = int(rng.randint(0, len(n.input)))
            other = _pick(rng, [o for m in nodes for o in m.output] + ["undefined"])
            if rng.rand() < 0.3:
                del n.input[i]
            else:
                n.input[i] = other
        return "input"
    if kind == 6 and model.primitives:              # a primitive attribute's value
        p = _pick(rng, model.primitives)
        if p.attribute:
            a = _pick(rng, p.attribute)
            choice = int(rng.randint(0, 4))
            if choice == 0:
                a.i = int(_pick(rng, [-1, 0, 7, 1 << 40]))
                del a.ints[:]
            elif choice == 1:
                a.type = int(rng.randint(0, 40))
            elif choice == 2:
                del a.ints[:]
                a.ints.extend(int(rng.randint(-3, 9)) for _ in range(int(rng.randint(0, 6))))
            else:
                a.f = float(_pick(rng, [np.nan, np.inf, -1.0, 0.0]))
        return "attribute"
    if kind == 7 and nodes:                         # a node's recorded output shape
        n = _pick(rng, nodes)
        for a in n.attribute:
            if a.name == "shape":
                for t in list(a.tensors) + [t for v in a.values for t in v.tensors]:
                    if t.dims:
                        t.dims[int(rng.randint(0, len(t.dims)))] = int(_pick(rng, BAD_DIMS))
                    if rng.rand() < 0.3:
                        t.data_type = int(rng.randint(0, 20))
        return "node_shape"
    if kind == 8 and nodes:                         # a node removed or duplicated
        g = _pick(rng, [g for g in _graphs(model) if len(g.node)])
        i = int(rng.randint(0, len(g.node)))
        if rng.rand() < 0.5:
            del g.node[i]
        else:
            g.node.add().CopyFrom(g.node[i])
        return "node_count"
    if kind == 9:                                   # graph input / output shapes and names
        g = model.graph
        if g.input and g.input[0].tensor and rng.rand() < 0.6:
            t = g.input[0].tensor[0]
            if t.dims:
                t.dims[int(rng.randint(0, len(t.dims)))] = int(_pick(rng, BAD_DIMS))
            else:
                t.data_type = int(rng.randint(0, 20))
        elif g.output:
            g.output[0].name = _pick(rng, ["x", g.input[0].name if g.input else "y", ""])
        return "graph_io"
    # a constant's value tensor
    consts = [n for n in _nodes(model) if n.op_type == "Constant"]
    if consts:
        c = _pick(rng, consts)
        for a in c.attribute:
            for t in list(a.tensors) + ([a.t] if a.HasField("t") else []):
                if t.dims:
                    t.dims[int(rng.randint(0, len(t.dims)))] = int(_pick(rng, BAD_DIMS))
                elif rng.rand() < 0.5:
                    t.raw_data = rng.bytes(int(rng.randint(0, 9)))
            if rng.rand() < 0.5:
                a.i = int(_pick(rng, [-5, 0, 1 << 35, 9]))
    return "constant"


def prepare_workdir(workdir: str):
    """Files the external-data mutants point at: a FIFO, a short file, a symlink out."""
    os.makedirs(workdir, exist_ok=True)
    outside = os.path.join(os.path.dirname(workdir), "outside.bin")
    with open(outside, "wb") as f:
        f.write(b"SECRET" * 1000)
    with open(os.path.join(workdir, "short.bin"), "wb") as f:
        f.write(b"\0" * 8)
    with open(os.path.join(workdir, "data_ok.bin"), "wb") as f:
        f.write(b"\0" * (1 << 16))
    if not os.path.exists(os.path.join(workdir, "fifo")):
        os.mkfifo(os.path.join(workdir, "fifo"))
    if not os.path.lexists(os.path.join(workdir, "link_out")):
        os.symlink(outside, os.path.join(workdir, "link_out"))


def run(out_json, seed, count, mem_mb, sources):
    resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))
    signal.signal(signal.SIGALRM, _alarm)
    pb2 = load_mind_ir_pb2()
    rng = np.random.RandomState(seed)
    workdir = os.path.join(os.path.dirname(os.path.abspath(out_json)), "mutants")
    prepare_workdir(workdir)
    originals = [open(s, "rb").read() for s in sources]
    records = []
    for i in range(count):
        src = int(rng.randint(0, len(originals)))
        data = originals[src]
        if i % 2 == 0:
            kind = "bytes"
            mutated = byte_mutant(data, rng)
        else:
            model = pb2.ModelProto()
            model.ParseFromString(data)
            kind = "proto:" + proto_mutant(model, rng, workdir)
            mutated = model.SerializeToString()
        path = os.path.join(workdir, f"m{i}.mindir")
        with open(path, "wb") as f:
            f.write(mutated)
        out = os.path.join(workdir, f"m{i}.onnx")
        rec = {"i": i, "source": src, "kind": kind}
        t0 = time.perf_counter()
        signal.alarm(PER_MUTANT_S)
        try:
            converters.convert(path, out, opset=int(rng.choice([13, 17, 21])),
                               dynamic_batch=bool(rng.rand() < 0.3))
            rec["outcome"] = "converted"
            reason = runs_once(out)
            if reason:
                rec["outcome"] = "unrunnable"
                rec["message"] = reason
        except converters.ConversionError as exc:
            rec["outcome"] = "error"
            rec["message"] = str(exc)[:300]
        except _Timeout:
            rec["outcome"] = "timeout"
        except BaseException as exc:  # noqa: B902 - every other outcome is a finding
            rec["outcome"] = "crash"
            rec["message"] = f"{type(exc).__name__}: {exc}"[:300]
            rec["traceback"] = traceback.format_exc()[-1500:]
        finally:
            signal.alarm(0)
        rec["seconds"] = round(time.perf_counter() - t0, 3)
        rec["written"] = os.path.exists(out)
        # the output, its data, and the writer's .coat-partial.<pid>.m<i>.onnx.* temporaries
        leftovers = [f for f in os.listdir(workdir) if f"m{i}.onnx" in f]
        rec["leftovers"] = leftovers if rec["outcome"] != "converted" else []
        if os.path.exists(out):
            os.unlink(out)
        os.unlink(path)
        records.append(rec)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(out_json, "w") as f:
        json.dump({"records": records, "peak_rss_mb": peak_kb / 1024}, f, indent=1)


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:])
