"""MindSpore setup and shared exports for the converter tests.

Exports are slow-ish (graph compile), so each network is exported once per session with
`tmp_path_factory` and shared between tests.
"""
import os

import numpy as np
import pytest

os.environ.setdefault("GLOG_v", "3")          # MindSpore: errors only
os.environ.setdefault("MS_SUBMODULE_LOG_v", "{ME:3}")

import mindspore as ms  # noqa: E402

ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")

from cvt_util import SMALL_FULL, SMALL_LITE, export  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def check_graph_after_each_pass():
    """og.check() after every pass of every conversion, subprocesses included: a pass or graph
    helper that leaves an index stale fails here rather than producing a subtly wrong model."""
    from coat_export.converters.passes import CHECK_ENV
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(CHECK_ENV, "1")
        yield


@pytest.fixture(scope="session")
def exports_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mindir")


def _small_coat(config):
    from coat_export.model import CoaTConfig, create_model
    ms.set_seed(1234)
    net = create_model(CoaTConfig(**config))
    net.set_train(False)
    return net


@pytest.fixture(scope="session")
def small_coats(exports_dir):
    """{name: (net, static mindir, dynamic mindir)} for the small lite and parallel CoaTs."""
    out = {}
    for name, config in (("lite", SMALL_LITE), ("parallel", SMALL_FULL)):
        net = _small_coat(config)
        shape = (1, 3, config["image_size"], config["image_size"])
        static = export(net, exports_dir / f"{name}_static", shape)
        dynamic = export(net, exports_dir / f"{name}_dynamic", shape, dynamic_batch=True)
        out[name] = (net, static, dynamic)
    return out


@pytest.fixture(scope="session")
def images64():
    return np.random.RandomState(7).randn(8, 3, 64, 64).astype(np.float32)
