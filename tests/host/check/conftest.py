"""Session fixtures for the parity-check tests: small CoaTs at 64x64 and the MindCV nano
checkpoints, each exported once (MINDIR and ONNX, static and dynamic batch)."""
import os

import pytest

os.environ.setdefault("GLOG_v", "3")

from .helpers import SMALL_FULL, SMALL_LITE, mindcv_config, sample_images, write_config


class Exported:
    """A built network (weights as the CLI builds them from `config`) and its exports."""

    def __init__(self, config, directory):
        from coat_export.host.config import build_model, resolve_spec

        self.config = config
        self.dir = directory
        self.spec = resolve_spec(config)
        self.built = build_model(self.spec, seed=0)
        self._files = {}

    def file(self, fmt, batch=1, dynamic=False):
        """DIR/<name>-<fmt>-<b|dyn>.<fmt>, exported on first use."""
        from coat_export.host import pipeline

        key = (fmt, batch, dynamic)
        if key not in self._files:
            tag = "dyn" if dynamic else f"b{batch}"
            path = os.path.join(self.dir, f"{self.built.name}-{tag}.{fmt}")
            if fmt == "onnx":
                pipeline.export_onnx(self.built, path, batch, dynamic, 17)
            else:
                pipeline.export_mindir(self.built, path, batch, dynamic)
            self._files[key] = path
        return self._files[key]


@pytest.fixture(scope="session")
def check_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("check")


@pytest.fixture(scope="session")
def configs(check_dir):
    return {"lite": write_config(check_dir / "small_lite.yaml", "small_lite", SMALL_LITE),
            "full": write_config(check_dir / "small_full.yaml", "small_full", SMALL_FULL),
            "coat_lite_nano": mindcv_config(check_dir / "coat_lite_nano.yaml", "coat_lite_nano"),
            "coat_nano": mindcv_config(check_dir / "coat_nano.yaml", "coat_nano")}


@pytest.fixture(scope="session")
def models(configs, check_dir):
    """name -> Exported (lazy: a model is built and exported only when a test asks)."""
    cache = {}

    class _Models(dict):
        def __missing__(self, name):
            d = check_dir / f"exports_{name}"
            d.mkdir(exist_ok=True)
            cache[name] = Exported(configs[name], str(d))
            self[name] = cache[name]
            return cache[name]

    return _Models()


@pytest.fixture(scope="session")
def images_dir(check_dir):
    return sample_images(check_dir / "images")
