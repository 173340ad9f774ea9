"""--dynamic_batch where the batch is an inner factor of a dimension: a time-major (T, N, C)
flattened to (T*N, C) for a Dense and back (DeepSpeech2's SequenceWise, MindOCR's CTC heads),
or per-direction RNN states joined into (D*N, H).
From a batch-1 export the first reading of the flattening (the batch as the outer factor of C)
fails at the Dense, and the analysis takes the other. Checked against MindSpore at batch 1, 3
and 8 in ONNX Runtime and OpenVINO."""
import numpy as np
import pytest

import mindspore as ms
from mindspore import nn, ops

from coat_export import converters
from coverage_nets import GruBidirectional2LayersStates, RnnReluBidirectional, SequenceWiseDense
from coverage_run import runtime_status
from cvt_util import export, ms_forward


class TimeMajorRecognizer(nn.Cell):
    """CRNN's tail: a bidirectional LSTM over time-major columns, then a CTC head (Dense over
    (T*N, C)) reshaped back to (T, N, classes)."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 6, bidirectional=True)
        self.head = nn.Dense(12, 7)

    def construct(self, x):
        seq = x[:, 0].transpose(1, 0, 2)          # (T=6, N, 8)
        y, _ = self.rnn(seq)
        t, n, c = y.shape
        return self.head(y.reshape(t * n, c)).reshape(t, n, -1)


class MixesSamples(nn.Cell):
    """A Gram matrix over every (time step, sample) row of (T*N, C): it mixes the samples.
    Neither reading of the batch-1 flattening (the batch outside C, or inside T*N) survives
    the product, so this must be refused."""

    def construct(self, x):
        seq = x[:, 0].transpose(1, 0, 2)          # (T, N, 8)
        t, n, c = seq.shape
        rows = seq.reshape(t * n, c)
        return ops.matmul(rows.T, rows)


# the unrolled GRU/RNN join their per-direction final states along the batch axis (D*N, H)
@pytest.mark.parametrize("cls", [SequenceWiseDense, TimeMajorRecognizer,
                                 GruBidirectional2LayersStates, RnnReluBidirectional])
def test_time_major_dense_from_a_batch_1_export_matches_mindspore(cls, tmp_path):
    ms.set_seed(0)
    net = cls()
    shape = (1, 4, 6, 8)
    path = export(net, tmp_path / "net", shape)
    model = converters.convert_to_model(path, opset=17, dynamic_batch=True)
    for seed, n in enumerate((1, 3, 8)):
        x = np.random.RandomState(seed).randn(n, *shape[1:]).astype(np.float32)
        assert runtime_status(model, x, ms_forward(net, x)) == "ok", f"batch {n}"


def test_a_reshape_that_merges_samples_is_still_refused(tmp_path):
    net = MixesSamples()
    path = export(net, tmp_path / "net", (1, 4, 6, 8))
    with pytest.raises(converters.ConversionError, match="cannot prove the batch axis"):
        converters.convert_to_model(path, opset=17, dynamic_batch=True)
