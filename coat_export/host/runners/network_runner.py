"""The source network built from a config and checkpoint, as a runner: the reference every
export is verified and checked against (`host.config.BuiltModel.runner` makes it once)."""
from typing import Optional

import numpy as np

from ...edge.runners.base import ModelIO, Runner
from ..mindspore_import import import_mindspore

__all__ = ["NetworkRunner", "REFERENCE_NAME", "NETWORK_CHUNK", "CPU_NETWORK_CHUNK"]

REFERENCE_NAME = "mindspore"
NETWORK_CHUNK = 16   # samples per call of the source network (bounded memory)
# MindSpore's graph mode compiles the network anew for every input shape it meets (~20-45 s
# for a CoaT on CPU), while its CPU kernels gain nothing from a batch (coat_mini, 2.10: 2.06
# s a sample at batch 13, 2.2 s at batch 1): on CPU the network runs one sample a call, so
# one compiled shape serves every call of a run.
CPU_NETWORK_CHUNK = 1


class NetworkRunner(Runner):
    """The MindSpore network built from the config and checkpoint: dynamic batch, run in
    chunks of NETWORK_CHUNK samples (CPU_NETWORK_CHUNK on the CPU)."""

    runtime = "mindspore"
    runtime_label = "MindSpore"
    format = "mindspore"   # validate rows: the contract calls the network "mindspore"

    def __init__(self, built, name: str = REFERENCE_NAME):
        c = built.config
        super().__init__(name, ModelIO("x", ["batch", c.in_channels, c.image_size, c.image_size]),
                         ModelIO("logits", ["batch", c.num_classes]))
        self.built = built
        self._ms = import_mindspore()
        self.on_cpu = str(self._ms.get_context("device_target")).upper() == "CPU"

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.built.network(self._ms.Tensor(x)).asnumpy()

    def __call__(self, x: np.ndarray, max_batch: Optional[int] = None) -> np.ndarray:
        chunk = CPU_NETWORK_CHUNK if self.on_cpu else max_batch or NETWORK_CHUNK
        return super().__call__(x, chunk)
