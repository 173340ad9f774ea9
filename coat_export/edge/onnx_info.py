"""What an ONNX file is, read from its protobuf wire format: no `onnx` package needed.

The edge runtime must tell an int8 or fp16 model from an fp32 one (the comparator judges each
by its own gates) and report the opset, without the `onnx` package (not installed on edge
boxes). ONNX files are protobuf `ModelProto` messages; this walks the few fields it needs --
opset imports, node op types, `Cast` targets, initializer element types -- by offsets into
the bytes, never copying weights. Malformed input raises ValueError (`summarize_file`: a
one-line UserError naming the file). `check_external_data` holds a bare file's external
tensors to its folder and their declared sizes before any runtime opens it.
"""
from typing import Dict, Iterator, List, NamedTuple, Optional, Set, Tuple

__all__ = ["OnnxSummary", "ExternalTensor", "summarize", "summarize_file", "check_external_data",
           "precision_of", "INT8_OPS"]

INT8_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear",
                      "ConvInteger", "MatMulInteger", "DynamicQuantizeMatMul",
                      "MatMulIntegerToFloat"})
_FLOAT16, _BFLOAT16 = 10, 16    # TensorProto.DataType

# field numbers (onnx.proto)
_MODEL_OPSET, _MODEL_GRAPH, _MODEL_METADATA = 8, 7, 14
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
MAX_METADATA_CHARS = 1 << 20
_OPSET_DOMAIN, _OPSET_VERSION = 1, 2
_GRAPH_NODE, _GRAPH_INIT, _GRAPH_SPARSE_INIT = 1, 5, 15
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_NODE_OPTYPE, _NODE_ATTR = 4, 5
_ATTR_NAME, _ATTR_I, _ATTR_T, _ATTR_G, _ATTR_TENSORS, _ATTR_GRAPHS = 1, 3, 5, 6, 10, 11
MAX_GRAPH_DEPTH = 32            # subgraphs (If / Loop / Scan bodies) inside subgraphs
_TENSOR_DTYPE, _TENSOR_NAME, _TENSOR_EXTERNAL, _TENSOR_LOCATION = 2, 8, 13, 14
_EXTERNAL = 1                   # TensorProto.DataLocation.EXTERNAL
MAX_EXTERNAL_TENSORS = 100_000


class ExternalTensor(NamedTuple):
    """An initializer whose bytes live in another file (ONNX external data)."""
    tensor: str
    location: str
    offset: int
    length: Optional[int]


def _varint(buf, pos: int, end: int) -> Tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError("truncated or malformed varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf, start: int, end: int) -> Iterator[Tuple[int, int, object]]:
    """(field number, wire type, value) of one message: ints for varints, (start, end)
    offsets for length-delimited fields, None for fixed-width ones."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos, end)
        elif wire == 1:
            value, pos = None, pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos, end)
            value, pos = (pos, pos + n), pos + n
        elif wire == 5:
            value, pos = None, pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > end:
            raise ValueError("truncated protobuf message")
        yield field, wire, value


class OnnxSummary:
    def __init__(self):
        self.opsets: Dict[str, int] = {}
        self.op_types: Set[str] = set()
        self.cast_targets: Set[int] = set()
        self.initializer_types: Set[int] = set()
        self.metadata: Dict[str, str] = {}   # metadata_props (what Netron shows)
        self.external: List[ExternalTensor] = []

    @property
    def opset(self):
        return self.opsets.get("") or self.opsets.get("ai.onnx")

    @property
    def precision(self) -> str:
        """See precision_of."""
        return precision_of(self)

    @property
    def toolkit_metadata(self) -> Dict[str, object]:
        """See read_toolkit_metadata."""
        return read_toolkit_metadata(self)


def summarize(data: bytes) -> OnnxSummary:
    """Opsets, op types, Cast targets and initializer element types of an ONNX model."""
    buf = memoryview(data)
    s = OnnxSummary()
    graph = None
    for field, wire, value in _fields(buf, 0, len(buf)):
        if field == _MODEL_OPSET and wire == 2:
            domain, version = "", 0
            for f, w, v in _fields(buf, *value):
                if f == _OPSET_DOMAIN and w == 2:
                    domain = bytes(buf[v[0]:v[1]]).decode("utf-8", "replace")
                elif f == _OPSET_VERSION and w == 0:
                    version = v
            s.opsets[domain] = version
        elif field == _MODEL_GRAPH and wire == 2:
            graph = value
        elif field == _MODEL_METADATA and wire == 2 and value[1] - value[0] < MAX_METADATA_CHARS:
            key = val = ""
            for f, w, v in _fields(buf, *value):
                if f == _ENTRY_KEY and w == 2:
                    key = bytes(buf[v[0]:v[1]]).decode("utf-8", "replace")
                elif f == _ENTRY_VALUE and w == 2:
                    val = bytes(buf[v[0]:v[1]]).decode("utf-8", "replace")
            if key:
                s.metadata[key] = val
    if graph is None:
        raise ValueError("no graph in the model (not an ONNX file?)")
    _graph(buf, graph, s, 0)
    return s


def _graph(buf, span, s: OnnxSummary, depth: int, top: bool = True) -> None:
    """Nodes and every tensor of a graph: initializers (whose types tell the precision, at
    the top level), sparse initializers, and, through node attributes, constants and
    subgraphs -- any of which may keep its data in an external file."""
    if depth > MAX_GRAPH_DEPTH:
        raise ValueError(f"subgraphs nested more than {MAX_GRAPH_DEPTH} deep")
    for field, wire, value in _fields(buf, *span):
        if field == _GRAPH_NODE and wire == 2:
            _node(buf, value, s, depth)
        elif field == _GRAPH_INIT and wire == 2:
            _tensor(buf, value, s, initializer=top)
        elif field == _GRAPH_SPARSE_INIT and wire == 2:
            for f, w, v in _fields(buf, *value):
                if f in (_SPARSE_VALUES, _SPARSE_INDICES) and w == 2:
                    _tensor(buf, v, s)


def _text(buf, span) -> str:
    return bytes(buf[span[0]:span[1]]).decode("utf-8", "replace")


def _tensor(buf, span, s: OnnxSummary, initializer: bool = False) -> None:
    name, entries, location = "", {}, 0
    for f, w, v in _fields(buf, *span):
        if f == _TENSOR_DTYPE and w == 0:
            if initializer:
                s.initializer_types.add(v)
        elif f == _TENSOR_NAME and w == 2:
            name = _text(buf, v)
        elif f == _TENSOR_LOCATION and w == 0:
            location = v
        elif f == _TENSOR_EXTERNAL and w == 2:
            key = val = ""
            for ef, ew, ev in _fields(buf, *v):
                if ef == _ENTRY_KEY and ew == 2:
                    key = _text(buf, ev)
                elif ef == _ENTRY_VALUE and ew == 2:
                    val = _text(buf, ev)
            entries[key] = val
    if location != _EXTERNAL:
        return
    if len(s.external) >= MAX_EXTERNAL_TENSORS:
        raise ValueError(f"more than {MAX_EXTERNAL_TENSORS} external tensors")
    try:
        offset = int(entries.get("offset") or 0)
        length = int(entries["length"]) if entries.get("length") else None
    except ValueError as exc:
        raise ValueError(f"tensor {name[:80]!r}: external data offset/length are not "
                         "numbers") from exc
    if offset < 0 or (length is not None and length < 0):
        raise ValueError(f"tensor {name[:80]!r}: negative external data offset/length")
    s.external.append(ExternalTensor(name, entries.get("location", ""), offset, length))


def _node(buf, span, s: OnnxSummary, depth: int = 0) -> None:
    op, to = "", None
    for f, w, v in _fields(buf, *span):
        if f == _NODE_OPTYPE and w == 2:
            op = bytes(buf[v[0]:v[1]]).decode("utf-8", "replace")
        elif f == _NODE_ATTR and w == 2:
            name, i = "", None
            for af, aw, av in _fields(buf, *v):
                if af == _ATTR_NAME and aw == 2:
                    name = bytes(buf[av[0]:av[1]]).decode("utf-8", "replace")
                elif af == _ATTR_I and aw == 0:
                    i = av
                elif af in (_ATTR_T, _ATTR_TENSORS) and aw == 2:
                    _tensor(buf, av, s)
                elif af in (_ATTR_G, _ATTR_GRAPHS) and aw == 2:
                    _graph(buf, av, s, depth + 1, top=False)
            if name == "to":
                to = i
    s.op_types.add(op)
    if op == "Cast" and to is not None:
        s.cast_targets.add(to)


def precision_of(summary: OnnxSummary) -> str:
    """'int8' (quantize/dequantize or integer ops), 'fp16' (float16 weights or casts to
    float16), else 'fp32'."""
    ops = summary.op_types
    if ops & INT8_OPS or any(op.startswith("QLinear") for op in ops):
        return "int8"
    if _FLOAT16 in summary.initializer_types or _FLOAT16 in summary.cast_targets:
        return "fp16"
    if _BFLOAT16 in summary.initializer_types or _BFLOAT16 in summary.cast_targets:
        return "bf16"
    return "fp32"


# What coat-export writes into an exported model's metadata_props (ONNX Runtime exposes them
# as custom_metadata_map; Netron shows them): a bare .onnx keeps its preprocessing and labels.
METADATA_PREFIX = "coat_export."


def toolkit_metadata(model: str, preprocessing: dict, opset: int, version: str,
                     labels=None, checkpoint_sha256=None, weights=None) -> Dict[str, str]:
    import json

    meta = {"model": model, "preprocessing": json.dumps(preprocessing, sort_keys=True),
            "opset": str(opset), "tool_version": version,
            "checkpoint_sha256": checkpoint_sha256 or "", "weights": weights or "random"}
    if labels is not None:
        meta["labels"] = json.dumps(list(labels))
    return {METADATA_PREFIX + k: v for k, v in meta.items()}


def read_toolkit_metadata(summary: OnnxSummary) -> Dict[str, object]:
    """The toolkit's own entries, parsed: {"preprocessing": dict, "labels": [str], ...};
    a malformed entry is left out (the model is untrusted, its metadata too)."""
    import json

    out: Dict[str, object] = {}
    for key, value in summary.metadata.items():
        if not key.startswith(METADATA_PREFIX):
            continue
        name = key[len(METADATA_PREFIX):]
        if name in ("preprocessing", "labels"):
            try:
                parsed = json.loads(value)
            except (ValueError, RecursionError):
                continue
            if name == "preprocessing" and isinstance(parsed, dict):
                out[name] = parsed
            elif name == "labels" and isinstance(parsed, list) and parsed and \
                    all(isinstance(x, str) for x in parsed):
                out[name] = parsed
        else:
            out[name] = value
    return out


def summarize_file(data: bytes, name: str) -> "OnnxSummary":
    """`summarize` for a file reported as `name`: UserError when it is not readable ONNX."""
    from .errors import UserError

    try:
        return summarize(data)
    except ValueError as exc:
        raise UserError(f"{name} is not a readable ONNX file ({exc})") from exc


def check_external_data(model_path: str, tensors) -> None:
    """Every external tensor of a bare .onnx names a regular file inside the model's folder
    that holds the declared bytes -- checked before a runtime opens anything: a path
    outside would be read, a FIFO would block the runtime, a short file is a corrupt model."""
    import os
    import stat

    from .errors import UserError

    root = os.path.realpath(os.path.dirname(os.path.abspath(model_path)))
    for t in tensors:
        where = f"{model_path}: tensor {t.tensor[:80]!r} keeps its data in {t.location[:120]!r}"
        parts = t.location.replace("\\", "/").split("/")
        if not t.location or os.path.isabs(t.location) or ".." in parts or "\0" in t.location \
                or (len(t.location) > 1 and t.location[1] == ":"):
            raise UserError(f"{where}, outside the model's folder; refused")
        real = os.path.realpath(os.path.join(root, *parts))
        if os.path.commonpath([root, real]) != root:
            raise UserError(f"{where}, which leads outside the model's folder; refused")
        try:
            st = os.stat(real)
        except OSError as exc:
            raise UserError(f"{where}, which is missing: copy it beside the model") from exc
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"{where}, which is not a regular file; refused")
        end = t.offset + (t.length or 0)
        if t.offset > st.st_size or end > st.st_size:
            raise UserError(f"{where} at bytes {t.offset}..{end}, but the file has "
                            f"{st.st_size} bytes (truncated or not this model's data)")
