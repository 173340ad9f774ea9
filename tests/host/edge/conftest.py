"""Session fixtures for the edge-runtime tests: tiny ONNX graphs, the trained digits model
(as MINDIR, and as ONNX through the MINDIR->ONNX converter), preprocessed held-out images.

tests/edge is a package, so this conftest and the helpers do not take the module names
`conftest` / `helpers` from other test directories."""
import json
import os

import numpy as np
import pytest

from .helpers import _BLOCKER, HELDOUT, TRAINED, _trained_net, converter


@pytest.fixture(scope="session")
def blocker_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("block_mindspore")
    (d / "sitecustomize.py").write_text(_BLOCKER)
    return str(d)


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory):
    from .tiny_onnx import make_tiny_classifier

    d = tmp_path_factory.mktemp("tiny")
    return make_tiny_classifier(d / "tiny.onnx", image_size=32, num_classes=10)


@pytest.fixture(scope="session")
def trained_meta():
    with open(os.path.join(TRAINED, "coat_lite_digits.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="session")
def trained_net(trained_meta):
    import mindspore as ms

    ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
    return _trained_net(trained_meta)


@pytest.fixture(scope="session")
def trained_mindir(trained_net, tmp_path_factory):
    """The trained digits model as a MINDIR with a dynamic batch dimension."""
    import mindspore as ms

    d = tmp_path_factory.mktemp("trained_mindir")
    base = str(d / "coat_lite_digits")
    ms.export(trained_net, ms.Tensor(shape=[None, 3, 32, 32], dtype=ms.float32),
              file_name=base, file_format="MINDIR")
    return base + ".mindir"


@pytest.fixture(scope="session")
def trained_onnx(trained_mindir, tmp_path_factory):
    convert = converter()
    if convert is None:
        pytest.skip("MINDIR->ONNX converter (converters.convert) not available yet")
    d = tmp_path_factory.mktemp("trained_onnx")
    out = str(d / "coat_lite_digits.onnx")
    convert(trained_mindir, out, opset=17, dynamic_batch=True)
    return out


@pytest.fixture(scope="session")
def heldout_batch(trained_meta):
    """(inputs, labels) of the held-out ImageFolder, preprocessed once."""
    from coat_export.edge.preprocess import PreprocessConfig, list_image_folder, preprocess_batch

    classes, samples = list_image_folder(HELDOUT)
    cfg = PreprocessConfig.from_dict(trained_meta["preprocessing"])
    x = preprocess_batch([p for p, _ in samples], cfg)
    return x, np.array([c for _, c in samples])
