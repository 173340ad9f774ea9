"""The MindSpore runners: the source network (the reference) and MINDIR files (GraphCell).

Same protocol as the edge runners (`coat_export.edge.runners.base.Runner`), so export
verification, `check`, `validate` and `bench` treat every model alike. MindSpore is imported
here, when a runner is made.
"""
import os
from typing import Optional

import numpy as np

from ..edge.errors import ModelLoadError, UserError, first_line
from ..edge.runners.base import ModelIO, Runner

__all__ = ["NetworkRunner", "MindirRunner", "mindir_input_shape", "import_mindspore"]

REFERENCE_NAME = "mindspore"
NETWORK_CHUNK = 16   # samples per call of the source network (bounded memory)


def import_mindspore():
    """MindSpore in graph mode (what export traces), or one line naming the install."""
    try:
        import mindspore as ms
    except ImportError as exc:
        raise UserError('this command needs MindSpore (the host toolchain): '
                        'pip install "coat-export[export]"') from exc
    if ms.get_context("mode") != ms.GRAPH_MODE:
        ms.set_context(mode=ms.GRAPH_MODE)
    return ms


class NetworkRunner(Runner):
    """The MindSpore network built from the config and checkpoint: dynamic batch, run in
    chunks of NETWORK_CHUNK samples."""

    runtime = "mindspore"
    runtime_label = "MindSpore"
    format = "mindspore"   # validate rows: the contract calls the network "mindspore"

    def __init__(self, built, name: str = REFERENCE_NAME):
        c = built.config
        super().__init__(name, ModelIO("x", ["batch", c.in_channels, c.image_size, c.image_size]),
                         ModelIO("logits", ["batch", c.num_classes]))
        self.built = built
        self._ms = import_mindspore()

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.built.network(self._ms.Tensor(x)).asnumpy()

    def __call__(self, x: np.ndarray, max_batch: Optional[int] = None) -> np.ndarray:
        return super().__call__(x, max_batch or NETWORK_CHUNK)


def mindir_input_shape(path: str) -> list:
    """The first graph input's shape as recorded in a MINDIR ('batch' where symbolic)."""
    from ..converters import ConversionError, mindir_input_shapes

    try:
        shapes = mindir_input_shapes(path)
    except ConversionError as exc:
        raise UserError(str(exc)) from exc
    if not shapes:
        raise UserError(f"{path} is not a readable MINDIR file (no graph input)")
    return ["batch" if d is None else d for d in shapes[0]]


class MindirRunner(Runner):
    """A .mindir file run by MindSpore's GraphCell (CPU). A MINDIR exported with a static batch
    gets exactly that batch (padded by the shared batching policy), never per-sample calls."""

    runtime = "mindspore"
    runtime_label = "MindSpore"
    format = "mindir"

    def __init__(self, path: str, threads: Optional[int] = None, name: Optional[str] = None):
        if not os.path.isfile(path):
            raise UserError(f"model not found: {path}")
        ms = import_mindspore()
        from mindspore import nn

        if threads:
            try:
                ms.set_context(runtime_num_threads=int(threads))
            except Exception:  # the option moved between MindSpore releases
                pass
        shape = mindir_input_shape(path)
        try:
            self.cell = nn.GraphCell(ms.load(path))
        except Exception as exc:  # MindSpore raises RuntimeError/ValueError with C++ traces
            raise ModelLoadError(f"MindSpore cannot load {path}: {first_line(exc)}") from exc
        super().__init__(name or path, ModelIO("x", shape), ModelIO("logits", []),
                         threads=threads)
        self._ms = ms

    def infer(self, x: np.ndarray) -> np.ndarray:
        try:
            return self.cell(self._ms.Tensor(x)).asnumpy()
        except Exception as exc:
            raise UserError(f"MindSpore cannot run {self.name} on inputs of shape "
                            f"{list(x.shape)}: {first_line(exc)}") from exc

    def close(self) -> None:
        self.cell = None
