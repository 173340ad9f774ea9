"""ONNX Runtime sessions: explicit, non-competing threads; graph I/O helpers."""
import numpy as np
import pytest

from coat_export.errors import UserError
from coat_export.runtime import (available_cores, create_session, default_threads, input_info,
                                 model_format, output_info, run_batches)


def test_thread_settings(tiny_onnx):
    s = create_session(tiny_onnx, intra_op_threads=1)
    o = s.get_session_options()
    assert o.intra_op_num_threads == 1 and o.inter_op_num_threads == 1
    assert o.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    shared = create_session(tiny_onnx, share=available_cores() * 2)
    assert shared.get_session_options().intra_op_num_threads == 1
    assert default_threads() == available_cores()


def test_io_and_batches(tiny_onnx):
    s = create_session(tiny_onnx)
    i, o = input_info(s)[0], output_info(s)[0]
    assert i.name == "input" and i.image_size == 32 and i.fixed_batch is None
    assert o.shape[-1] == 10
    x = np.zeros((5, 3, 32, 32), np.float32)
    assert run_batches(s, x, max_batch=2).shape == (5, 10)


def test_errors(tiny_onnx, tmp_path):
    with pytest.raises(UserError, match="not available"):
        create_session(tiny_onnx, provider="NoSuchExecutionProvider")
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"\0\1garbage")
    with pytest.raises(UserError, match="cannot load"):
        create_session(str(bad))
    with pytest.raises(UserError, match="unknown model format"):
        model_format(__file__)
