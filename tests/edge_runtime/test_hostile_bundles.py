"""Untrusted bundles and images: nothing outside the bundle is read, nothing unverified is
used, every refusal is one line and exit 2."""
import json
import os

import numpy as np
import pytest
from PIL import Image

from .conftest import HELDOUT, digit_images, run_tool

SECRET = "TOP-SECRET-CONTENT"


def _edit_manifest(bundle, fn):
    path = bundle / "manifest.json"
    m = json.loads(path.read_text())
    fn(m)
    path.write_text(json.dumps(m))


def _refused(r, *words):
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = [l for l in r.stderr.strip().splitlines() if not l.startswith("warning")]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert SECRET not in r.stdout + r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


@pytest.fixture()
def outside(tmp_path):
    p = tmp_path / "outside.txt"
    p.write_text(SECRET + "\n" * 9)
    return p


@pytest.mark.parametrize("where", ["absolute", "dotdot", "subdir"])
def test_labels_path_outside_is_refused(bundle_copy, outside, where):
    name = {"absolute": str(outside), "dotdot": "../outside.txt",
            "subdir": "coat_edge/../../outside.txt"}[where]

    def point(m):
        m["labels"] = name
        m["files"][name] = {"bytes": outside.stat().st_size,
                            "sha256": __import__("hashlib").sha256(outside.read_bytes()).hexdigest()}
    _edit_manifest(bundle_copy, point)
    _refused(run_tool(["predict", bundle_copy, digit_images()[0]]))


def test_model_path_outside_is_refused(bundle_copy, outside):
    _edit_manifest(bundle_copy, lambda m: m["variants"]["fp32"].update(file="/etc/passwd"))
    _refused(run_tool(["predict", bundle_copy, digit_images()[0]]), "plain file names")


def test_symlinked_member_is_refused(bundle_copy, outside):
    os.remove(bundle_copy / "labels.txt")
    os.symlink(outside, bundle_copy / "labels.txt")
    r = run_tool(["predict", bundle_copy, digit_images()[0]])
    _refused(r)
    assert "symbolic link" in r.stderr or "outside the bundle" in r.stderr


def test_fifo_member_is_refused_without_hanging(bundle_copy):
    os.remove(bundle_copy / "labels.txt")
    os.mkfifo(bundle_copy / "labels.txt")
    _refused(run_tool(["predict", bundle_copy, digit_images()[0]], timeout=60),
             "not a regular file")


def test_edited_labels_are_refused(bundle_copy):
    text = (bundle_copy / "labels.txt").read_text().replace("three", "eight", 1)
    (bundle_copy / "labels.txt").write_text(text)
    _refused(run_tool(["predict", bundle_copy, digit_images()[0]]), "sha256")


@pytest.mark.parametrize("damage", ["not_json", "wrong_format", "future", "files_not_dict",
                                    "no_variants"])
def test_damaged_manifest_is_one_line(bundle_copy, damage):
    path = bundle_copy / "manifest.json"
    if damage == "not_json":
        path.write_text("{nope")
    else:
        _edit_manifest(bundle_copy, {
            "wrong_format": lambda m: m.update(format="other"),
            "future": lambda m: m.update(format_version=99),
            "files_not_dict": lambda m: m.update(files=["model.onnx"]),
            "no_variants": lambda m: m.update(variants={}),
        }[damage])
    _refused(run_tool(["predict", bundle_copy, digit_images()[0]]))


def test_unlisted_variant_file_is_refused(bundle_copy):
    (bundle_copy / "extra.onnx").write_bytes((bundle_copy / "model.onnx").read_bytes())
    _edit_manifest(bundle_copy, lambda m: m["variants"].update(
        extra={"file": "extra.onnx", "precision": "fp32"}))
    _refused(run_tool(["predict", bundle_copy, digit_images()[0], "--variant", "extra"]),
             "not listed")


def _png_header(width, height):
    """A PNG that declares width x height 8-bit grey pixels and holds almost none."""
    import struct
    import zlib

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def test_sixteen_bit_and_huge_images(digits_bundle, tmp_path):
    a = (np.arange(64 * 48, dtype=np.uint32).reshape(48, 64) * 21).astype(np.uint16)
    p16 = tmp_path / "deep.png"
    Image.fromarray(a).save(p16)
    assert Image.open(p16).mode.startswith("I")
    r = run_tool(["predict", digits_bundle, p16, "--topk", "1"])
    assert r.returncode == 0, r.stderr
    # a PNG whose header declares 20000 x 20000 pixels: refused from the header, at once
    big = tmp_path / "bomb.png"
    big.write_bytes(_png_header(20000, 20000))
    r = run_tool(["predict", digits_bundle, big])
    _refused(r, "too large")


HOSTILE_MANIFESTS = {
    "deeply_nested": ("nested too deeply", None),
    "default_variant_list": ("default_variant", lambda m: m.update(default_variant=["fp32"])),
    "image_size_overflow": ("image_size", None),
    "crop_pct_tiny": ("crop_pct", lambda m: m["preprocessing"].update(crop_pct=1e-7)),
    "mean_scalar": ("mean", lambda m: m["preprocessing"].update(mean=5)),
    "many_variants": ("at most 16", lambda m: m.update(
        variants={f"v{i}": {"file": "model.onnx", "precision": "fp32"} for i in range(200000)})),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_MANIFESTS))
@pytest.mark.parametrize("command", ["predict", "validate", "check"])
def test_hostile_manifest_is_one_line_in_every_command(bundle_copy, case, command):
    """Parsed with bounded depth, checked for types and ranges before use: one line, exit 2,
    quickly (no session per listed variant, no giant resize), whichever command reads it."""
    word, edit = HOSTILE_MANIFESTS[case]
    path = bundle_copy / "manifest.json"
    if case == "deeply_nested":
        path.write_text('{"format": ' + "[" * 100000 + "]" * 100000 + "}")
    elif case == "image_size_overflow":
        m = json.loads(path.read_text())
        m["preprocessing"]["image_size"] = "@@"
        path.write_text(json.dumps(m).replace('"@@"', "1e400"))
    else:
        _edit_manifest(bundle_copy, edit)
    args = {"predict": ["predict", bundle_copy, digit_images()[0]],
            "validate": ["validate", bundle_copy, "--data_dir", HELDOUT, "--limit", "2"],
            "check": ["check", bundle_copy]}[command]
    r = run_tool(args, timeout=60)
    _refused(r, word)
    assert len(r.stderr) < 400


def test_thin_strip_image_is_refused_by_its_resized_size(digits_bundle, tmp_path):
    """A tiny file whose aspect ratio makes the shorter-side resize huge: one line naming the
    image (not the batch size), exit 2."""
    strip = tmp_path / "strip.png"
    Image.new("RGB", (1, 200000)).save(strip)
    r = run_tool(["predict", digits_bundle, strip], timeout=60)
    assert r.returncode == 2 and "strip.png" in r.stderr and "megapixels" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "batch_size" not in r.stderr


def test_bundle_model_with_external_data_is_refused(bundle_copy, outside):
    """A bundle's model is self-contained and verified by its sha256; one that names external
    data (which the sha256 would not cover) is refused before a runtime opens it."""
    onnx = pytest.importorskip("onnx")
    import hashlib

    path = bundle_copy / "model.onnx"
    model = onnx.load(str(path))
    onnx.save(model, str(path), save_as_external_data=True, location="weights.bin",
              size_threshold=1024)
    data = path.read_bytes()
    _edit_manifest(bundle_copy, lambda m: m["files"]["model.onnx"].update(
        bytes=len(data), sha256=hashlib.sha256(data).hexdigest()))
    _refused(run_tool(["predict", bundle_copy, digit_images()[0]]), "external data")
