"""MindCV checkpoints (tests/fixtures/coat_*nano): MINDIR -> ONNX -> ORT reproduces MindCV's logits."""
import json
import os

import numpy as np
import pytest

from coat_export import converters
from cvt_util import export, ort_forward, validate
from support import FIXTURES



@pytest.mark.parametrize("name", ["coat_lite_nano", "coat_nano"])
def test_mindcv_logits(tmp_path, name):
    from coat_export.model import CoaTConfig, create_model, load_checkpoint_strict
    arch = dict(json.load(open(os.path.join(FIXTURES, f"{name}.json")))["architecture"])
    arch["in_channels"] = arch.pop("in_chans")
    net = create_model(CoaTConfig(**arch))
    load_checkpoint_strict(net, os.path.join(FIXTURES, f"{name}.ckpt"))
    net.set_train(False)
    x = np.load(os.path.join(FIXTURES, f"{name}.input.npy"))
    expected = np.load(os.path.join(FIXTURES, f"{name}.logits.npy"))
    path = export(net, tmp_path / name, (1,) + x.shape[1:])
    model = converters.convert_to_model(path, opset=17, dynamic_batch=True)
    validate(model)
    (out,) = ort_forward(model, x)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-4)
