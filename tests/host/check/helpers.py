"""Helpers of the parity-check tests: configs, exports, corruptions, CLI runs."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import yaml

from support import FIXTURES, REPO, SMALL_FULL, SMALL_LITE  # noqa: F401

ENV = dict(os.environ, GLOG_v="3")


def write_config(path, name, arch, **extra):
    path.write_text(yaml.safe_dump({"model": name, "architecture": arch, **extra}))
    return str(path)


def mindcv_config(path, name):
    """A yaml config for a MindCV fixture checkpoint (architecture from its .json)."""
    with open(os.path.join(FIXTURES, f"{name}.json"), encoding="utf-8") as f:
        arch = dict(json.load(f)["architecture"])
    arch["in_channels"] = arch.pop("in_chans")
    arch["crpe_window"] = {int(k): v for k, v in arch["crpe_window"].items()}
    return write_config(path, name, arch, ckpt_path=os.path.join(FIXTURES, f"{name}.ckpt"))


def sample_images(directory):
    """scikit-learn's two sample photos (china.jpg, flower.jpg) copied into `directory`."""
    import sklearn.datasets

    src = os.path.join(os.path.dirname(sklearn.datasets.__file__), "images")
    os.makedirs(directory, exist_ok=True)
    for name in ("china.jpg", "flower.jpg"):
        shutil.copy(os.path.join(src, name), os.path.join(directory, name))
    return str(directory)


def corrupt(src, dst, kind, node_name, **kw):
    """Copy an ONNX file with one deliberate fault at `node_name`:
    'weight' (its weight initializer scaled and shifted), 'epsilon' / 'axis' (attribute
    changed), 'swap' (its first two inputs swapped)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(src)
    node = next(n for n in m.graph.node if n.name == node_name)
    if kind == "weight":
        name = node.input[kw.get("input", 1)]
        users = [n.name for n in m.graph.node if name in n.input]
        assert users == [node_name], f"{name} is shared by {users}"
        for i, t in enumerate(m.graph.initializer):
            if t.name == name:
                a = numpy_helper.to_array(t)
                m.graph.initializer[i].CopyFrom(numpy_helper.from_array(
                    (a * 1.1 + 0.05).astype(a.dtype), name))
    elif kind in ("epsilon", "axis"):
        attr = next(a for a in node.attribute if a.name == kind)
        if kind == "epsilon":
            attr.f = kw.get("value", 0.5)
        else:
            attr.i = kw.get("value", 1)
    elif kind == "swap":
        a, b = node.input[0], node.input[1]
        node.input[0], node.input[1] = b, a
    else:
        raise ValueError(kind)
    onnx.save(m, str(dst))
    return str(dst)


def run_cli(*args, script=None):
    cmd = [sys.executable, os.path.join(REPO, script)] if script else \
        [sys.executable, "-m", "coat_export"]
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, cwd=REPO,
                          env=ENV, timeout=600)


def assert_one_line_error(proc, *words):
    assert "Traceback" not in proc.stderr, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr
    for w in words:
        assert w.lower() in errors[0].lower(), errors[0]


def logits_close(a, b, atol=1e-4):
    return np.max(np.abs(np.asarray(a) - np.asarray(b))) <= atol
