"""Proof that travels: `predict.py --selftest` and `check BUNDLE` against the MindSpore outputs
recorded in the bundle (reference.npz), with only numpy and a runtime; damaged references."""
import hashlib
import io
import json

import numpy as np
import pytest

from .conftest import have, run_tool

RUNTIMES = ["onnxruntime"] + (["openvino"] if have("openvino") else [])


def _reseal(bundle, name, data):
    """Replace a member and make the manifest consistent with it again."""
    (bundle / name).write_bytes(data)
    path = bundle / "manifest.json"
    m = json.loads(path.read_text())
    m["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    path.write_text(json.dumps(m))


def test_selftest_reproduces_mindspore_in_every_runtime(digits_bundle, tmp_path):
    script = f"{digits_bundle}/predict.py"
    out = tmp_path / "s.json"
    r = run_tool([script, "--selftest", "--runtime", *RUNTIMES, "--json", out])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "selftest PASS" in r.stderr and "| pass |" in r.stdout
    rep = json.loads(out.read_text())
    m = json.loads(open(f"{digits_bundle}/manifest.json").read())
    assert m["reference"]["source"] == "mindspore" and m["reference"]["mindspore_version"]
    assert m["files"]["reference.npz"]["sha256"]
    assert {(c["candidate"].rsplit("/", 1)[-1], c["runtime"]) for c in rep["comparisons"]} == {
        (v["file"], rt) for v in m["variants"].values() for rt in RUNTIMES}
    for c in rep["comparisons"]:
        assert c["reference"] == "mindspore (recorded)" and c["passed"]
        assert c["num_samples"] == m["reference"]["num_samples"]
        if c["precision"] == "fp32":
            assert c["max_abs_diff"] <= 1e-4
    # check BUNDLE adds the same comparisons beside the variant-vs-fp32 ones
    r = run_tool(["check", digits_bundle, "--runtime", *RUNTIMES, "--report", tmp_path / "c.json"])
    assert r.returncode == 0, r.stdout
    refs = {c["reference"] for c in json.loads((tmp_path / "c.json").read_text())["comparisons"]}
    assert "mindspore (recorded)" in refs and len(refs) == 2


def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize("damage", ["sha256", "object_array", "wrong_shape", "nan", "not_npz"])
def test_damaged_reference_is_one_line_and_runs_nothing(bundle_copy, damage):
    ref = bundle_copy / "reference.npz"
    with np.load(ref, allow_pickle=False) as z:
        x, y = z["inputs"], z["outputs"]
    if damage == "sha256":
        data = bytearray(ref.read_bytes())
        data[len(data) // 2] ^= 0xFF
        ref.write_bytes(bytes(data))
    else:
        data = {
            "object_array": lambda: _npz(inputs=np.array([object()], dtype=object), outputs=y),
            "wrong_shape": lambda: _npz(inputs=x[:, :, :16, :16], outputs=y),
            "nan": lambda: _npz(inputs=x, outputs=np.full_like(y, np.nan)),
            "not_npz": lambda: b"PK\x03\x04 definitely not a zip",
        }[damage]()
        _reseal(bundle_copy, "reference.npz", data)
    r = run_tool([bundle_copy / "predict.py", "--selftest"])
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in r.stderr
    assert "| pass |" not in r.stdout and "[..] run" not in r.stderr
