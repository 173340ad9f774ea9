"""Helpers of the edge-runtime tests (paths, CLI runner, MindSpore blocker, converter)."""
import json
import os
import subprocess
import sys


from support import HELDOUT, LABELS, REPO, TRAINED  # noqa: F401  (used by the edge tests)
from support import TRAINED_CKPT as CKPT


def sklearn_images():
    import sklearn

    d = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "images")
    return [os.path.join(d, "china.jpg"), os.path.join(d, "flower.jpg")]


# A sitecustomize that makes `import mindspore` (and onnx, the model, the converter, the host
# side) fail and records the attempt: a subprocess run with it on PYTHONPATH proves the code path
# never imports them.
_BLOCKER = r'''
import os, sys
class _Block:
    BLOCKED = ("mindspore", "model", "converters", "onnx", "onnxconverter_common")
    BLOCKED_PACKAGES = ("coat_export.model", "coat_export.converters")
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.BLOCKED or any(
                name == p or name.startswith(p + ".") for p in self.BLOCKED_PACKAGES):
            marker = os.environ.get("COAT_BLOCK_MARKER")
            if marker:
                with open(marker, "a") as f:
                    f.write(name + "\n")
            raise ImportError(f"import of {name} blocked by the edge-runtime test")
        return None
sys.meta_path.insert(0, _Block())
'''


def run_cli(args, block_mindspore=False, blocker=None, marker=None, timeout=300):
    """`python -m coat_export ARGS` in a subprocess; returns CompletedProcess."""
    env = dict(os.environ)
    path = [REPO]
    if block_mindspore:
        path.insert(0, blocker)
        env["COAT_BLOCK_MARKER"] = marker or ""
    env["PYTHONPATH"] = os.pathsep.join(path + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-m", "coat_export", *map(str, args)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=timeout)


def _trained_net(meta):
    from coat_export.model import CoaTConfig, create_model, load_checkpoint_strict

    arch = dict(meta["architecture"])
    arch["crpe_window"] = {int(k): v for k, v in arch["crpe_window"].items()}
    net = create_model(CoaTConfig(**arch))
    load_checkpoint_strict(net, CKPT)
    net.set_train(False)
    return net


def converter():
    """converters.convert (the MINDIR->ONNX converter), or None where it cannot be imported."""
    try:
        from coat_export import converters
    except Exception:
        return None
    return getattr(converters, "convert", None)


