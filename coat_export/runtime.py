"""ONNX Runtime sessions for the edge runtime (no MindSpore).

Threads are always explicit: ``intra_op_num_threads`` is set (default: the cores this
process may use, divided by ``share`` when several sessions run side by side),
``inter_op_num_threads`` is 1, sequential execution, and intra-op spinning is off, so a
session that is idle does not burn the cores another session is using.
"""
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import UserError, first_line

__all__ = ["available_cores", "default_threads", "create_session", "input_info", "output_info",
           "ModelIO", "run_batches", "OrtBackend", "MindirBackend", "model_format",
           "open_backend"]


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads(share: int = 1) -> int:
    """Intra-op threads for one of `share` sessions that run at the same time."""
    return max(1, available_cores() // max(1, share))


_SHORT = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider",
          "tensorrt": "TensorrtExecutionProvider", "openvino": "OpenVINOExecutionProvider",
          "dml": "DmlExecutionProvider", "coreml": "CoreMLExecutionProvider",
          "rocm": "ROCMExecutionProvider", "xnnpack": "XnnpackExecutionProvider"}


def _providers(provider: Optional[Union[str, Sequence[str]]]) -> List[str]:
    import onnxruntime as ort

    if provider is None:
        return ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    wanted = [provider] if isinstance(provider, str) else list(provider)
    names = []
    for p in wanted:
        name = _SHORT.get(p.lower(), p)
        if name not in available:
            raise UserError(f"ONNX Runtime provider '{p}' is not available here; "
                            f"available: {', '.join(available)}")
        names.append(name)
    if "CPUExecutionProvider" not in names:
        names.append("CPUExecutionProvider")  # fallback for ops the accelerator lacks
    return names


def create_session(model_path: str, provider=None, intra_op_threads: Optional[int] = None,
                   share: int = 1, optimization: str = "all"):
    """An `onnxruntime.InferenceSession` with explicit, non-competing thread settings.

    provider: None (CPU), a name ('cpu', 'cuda', 'CUDAExecutionProvider') or a list.
    share: how many sessions will run concurrently in this process (divides the cores).
    optimization: 'all', 'extended', 'basic' or 'disable' graph optimizations.
    """
    import onnxruntime as ort

    if not os.path.isfile(model_path):
        raise UserError(f"model not found: {model_path}")
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(intra_op_threads or default_threads(share))
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    so.graph_optimization_level = {
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    }[optimization]
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(model_path, sess_options=so, providers=_providers(provider))
    except UserError:
        raise
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/InvalidProtobuf types
        reason = first_line(exc, limit=None)
        raise UserError(f"ONNX Runtime cannot load {model_path}: {reason[:300]}") from None


class ModelIO:
    """Name, shape and element type of one graph input or output (shape dims: int or str)."""

    def __init__(self, name: str, shape: Sequence, type_: str):
        self.name, self.shape, self.type = name, list(shape), type_

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": self.shape, "type": self.type}

    @property
    def image_size(self) -> Optional[int]:
        """Spatial size of an NCHW image input with square, static H = W; else None."""
        if len(self.shape) == 4 and isinstance(self.shape[2], int) and self.shape[2] == self.shape[3]:
            return self.shape[2]
        return None

    @property
    def fixed_batch(self) -> Optional[int]:
        return self.shape[0] if self.shape and isinstance(self.shape[0], int) else None


def _io(args) -> List[ModelIO]:
    out = []
    for a in args:
        shape = [d if isinstance(d, int) else (d or "?") for d in (a.shape or [])]
        out.append(ModelIO(a.name, shape, a.type))
    return out


def input_info(session) -> List[ModelIO]:
    return _io(session.get_inputs())


def output_info(session) -> List[ModelIO]:
    return _io(session.get_outputs())


def run_batches(session, batch: np.ndarray, max_batch: Optional[int] = None) -> np.ndarray:
    """Run the first output over `batch` (N, ...), in chunks that fit a fixed batch size.

    A graph exported with a fixed batch of 1 is run one sample at a time; a dynamic one in
    chunks of `max_batch` (or all at once)."""
    inp = input_info(session)[0]
    out_name = session.get_outputs()[0].name
    fixed = inp.fixed_batch
    step = fixed or max_batch or max(1, len(batch))
    if fixed and len(batch) % fixed and fixed != 1:
        raise UserError(f"the model's batch size is fixed at {fixed}; {len(batch)} inputs "
                        "do not divide into it")
    outs = []
    for start in range(0, len(batch), step):
        chunk = np.ascontiguousarray(batch[start:start + step], dtype=np.float32)
        outs.append(session.run([out_name], {inp.name: chunk})[0])
    return np.concatenate(outs, axis=0) if outs else np.zeros((0,), np.float32)


# ---------------------------------------------------------------- backends (validate, bench)

class OrtBackend:
    """An .onnx file run by ONNX Runtime: `__call__(batch) -> logits` for any batch size."""

    format = "onnx"

    def __init__(self, path: str, provider=None, intra_op_threads: Optional[int] = None,
                 share: int = 1):
        self.path = path
        self.session = create_session(path, provider=provider,
                                      intra_op_threads=intra_op_threads, share=share)
        self.input = input_info(self.session)[0]
        self.output = output_info(self.session)[0]
        self.threads = int(intra_op_threads or default_threads(share))

    @property
    def image_size(self) -> Optional[int]:
        return self.input.image_size

    @property
    def num_classes(self) -> Optional[int]:
        d = self.output.shape[-1] if self.output.shape else None
        return d if isinstance(d, int) else None

    @property
    def fixed_batch(self) -> Optional[int]:
        return self.input.fixed_batch

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return run_batches(self.session, batch)


class MindirBackend:
    """A .mindir file run by MindSpore's GraphCell. MindSpore is imported here, only here.

    A MINDIR exported with a static batch is fed in chunks of that batch when a whole batch
    is refused (the first refusal switches to per-sample calls for good)."""

    format = "mindir"

    def __init__(self, path: str, threads: Optional[int] = None):
        if not os.path.isfile(path):
            raise UserError(f"model not found: {path}")
        try:
            import mindspore as ms
            from mindspore import nn
        except ImportError:
            raise UserError(f"{path} is a MINDIR file: running it needs MindSpore, which is "
                            "not installed") from None
        ms.set_context(device_target="CPU")
        if threads:
            try:
                ms.set_context(runtime_num_threads=int(threads))
            except Exception:  # the option moved between MindSpore releases
                pass
        try:
            graph = ms.load(path)
        except Exception as exc:
            reason = first_line(exc)
            raise UserError(f"MindSpore cannot load {path}: {reason}") from None
        self._ms = ms
        self.path = path
        self.cell = nn.GraphCell(graph)
        self.per_sample = False
        self.threads = threads

    image_size = None      # not recorded in a MINDIR we can read without parsing it
    num_classes = None
    fixed_batch = None

    def _run(self, x: np.ndarray) -> np.ndarray:
        return self.cell(self._ms.Tensor(np.ascontiguousarray(x, dtype=np.float32))).asnumpy()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        if not self.per_sample and len(batch) > 1:
            try:
                out = self._run(batch)
                if out.shape[0] == len(batch):
                    return out
            except Exception:
                pass
            self.per_sample = True
        if self.per_sample or len(batch) == 1:
            try:
                return np.concatenate([self._run(batch[i:i + 1]) for i in range(len(batch))])
            except Exception as exc:
                reason = first_line(exc)
                raise UserError(f"MindSpore cannot run {self.path} on inputs of shape "
                                f"{list(batch.shape[1:])}: {reason}") from None
        return self._run(batch)


def model_format(path: str) -> str:
    """'onnx', 'mindir' or 'bundle' (a directory with manifest.json); UserError otherwise."""
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "manifest.json")):
            return "bundle"
        raise UserError(f"{path} is a directory without manifest.json (not a bundle)")
    if not os.path.exists(path):
        raise UserError(f"model not found: {path}")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".onnx":
        return "onnx"
    if ext == ".mindir":
        return "mindir"
    raise UserError(f"{path}: unknown model format '{ext or '(none)'}'; expected .onnx, "
                    ".mindir or a bundle directory")


def open_backend(path: str, provider=None, intra_op_threads: Optional[int] = None,
                 share: int = 1, variant: Optional[str] = None):
    """OrtBackend for .onnx (or a bundle's model), MindirBackend for .mindir."""
    fmt = model_format(path)
    if fmt == "bundle":
        from .bundle import read_manifest, variant_file

        path = os.path.join(path, variant_file(read_manifest(path), variant))
        fmt = "onnx"
    if fmt == "onnx":
        return OrtBackend(path, provider=provider, intra_op_threads=intra_op_threads, share=share)
    return MindirBackend(path, threads=intra_op_threads)
