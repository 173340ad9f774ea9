"""Fixtures of the edge-runtime tests: they need numpy, pillow and onnxruntime, never MindSpore
or onnx, and run in the MindSpore-free environment (Python 3.9-3.13) as well as on the host.

The bundle under test was exported on the host from the trained digits checkpoint:
`COAT_EDGE_BUNDLE` names it (what .ci/run does for the edge environment); on the host, where
MindSpore is installed, the session exports it itself with export.py, as a user would.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

from support import HELDOUT, LABELS, REPO, TRAINED  # noqa: F401  (the edge tests use them)
from support import TRAINED_CONFIG as CONFIG

HERE = os.path.dirname(os.path.abspath(__file__))


def have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def run_tool(args, cwd=None, python=None, timeout=300, env=None):
    """`python -m coat_export ARGS` (or a script when args[0] ends with .py)."""
    cmd = [python or sys.executable]
    cmd += [str(a) for a in args] if str(args[0]).endswith(".py") else \
        ["-m", "coat_export", *map(str, args)]
    e = dict(os.environ, **(env or {}))
    return subprocess.run(cmd, cwd=cwd or HERE, capture_output=True, text=True,
                          timeout=timeout, env=e)


@pytest.fixture(scope="session")
def digits_bundle(tmp_path_factory):
    """A bundle of the trained digits model: fp32 + int8 dynamic variant, labels."""
    given = os.environ.get("COAT_EDGE_BUNDLE")
    if given:
        return given
    if not (have("mindspore") and have("onnx")):
        pytest.skip("no COAT_EDGE_BUNDLE and no host toolchain to export one")
    out = tmp_path_factory.mktemp("host_export")
    r = subprocess.run([sys.executable, os.path.join(REPO, "export.py"), "-c", CONFIG,
                        "--format", "onnx", "--dynamic_batch", "--bundle", "--labels", LABELS,
                        "--bundle_variants", "dynamic", "--output_dir", str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr
    return str(out / "coat_lite_digits_bundle")


@pytest.fixture(scope="session")
def trained_meta():
    with open(os.path.join(TRAINED, "coat_lite_digits.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture()
def bundle_copy(digits_bundle, tmp_path):
    """A private copy of the bundle that a test may damage."""
    dst = tmp_path / "bundle"
    shutil.copytree(digits_bundle, dst)
    return dst


def digit_images():
    """The first held-out image of each class 0..9."""
    return [os.path.join(HELDOUT, str(c), sorted(os.listdir(os.path.join(HELDOUT, str(c))))[0])
            for c in range(10)]


def photos():
    """Real photos shipped by scikit-learn, when it is installed."""
    if not have("sklearn"):
        return []
    import sklearn

    d = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "images")
    return [os.path.join(d, "china.jpg"), os.path.join(d, "flower.jpg")]
