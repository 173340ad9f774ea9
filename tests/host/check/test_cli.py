"""`python -m coat_export check` and `export.py --check`: exit codes 0/1/2, JSON report,
Markdown table on stdout, one-line errors."""
import json
import os

import pytest

from .helpers import assert_one_line_error, corrupt, run_cli

CONTRACT = ("reference", "candidate", "max_abs_diff", "max_rel_diff", "cosine",
            "top1_agreement", "passed")


def test_passing_check_exit_0_json_and_table(models, configs, images_dir, tmp_path):
    m = models["lite"]
    report = tmp_path / "parity.json"
    proc = run_cli("check", "-c", configs["lite"], m.file("onnx"), m.file("mindir", batch=2),
                   "--images", images_dir, "--num_samples", 2, "--report", report)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(report.read_text())
    assert data["passed"] is True and len(data["comparisons"]) == 2
    for c in data["comparisons"]:
        assert set(CONTRACT) <= set(c) and c["passed"] is True and c["num_samples"] == 4
    assert "| candidate |" in proc.stdout and proc.stdout.count("| pass |") == 2
    assert "Traceback" not in proc.stderr
    assert [f for f in os.listdir(tmp_path) if f != "parity.json"] == []  # atomic: no leftovers


def test_broken_file_exit_1_names_first_divergence(models, configs, tmp_path):
    m = models["lite"]
    node = "patch_embed3.norm/LayerNormalization"
    bad = corrupt(m.file("onnx"), tmp_path / "bad.onnx", "epsilon", node)
    report = tmp_path / "r.json"
    proc = run_cli("check", "-c", configs["lite"], bad, m.file("onnx"), "--num_samples", 2,
                   "--report", report)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(report.read_text())
    assert data["passed"] is False
    assert [c["passed"] for c in data["comparisons"]] == [False, True]
    d = data["comparisons"][0]["first_divergence"]
    scope = "Default/patch_embed3-PatchEmbed/norm-LayerNorm/LayerNorm-op0"
    assert d["onnx_node"] == node and d["mindspore_scope"] == scope
    assert d["mindspore_op"] == "LayerNorm" and d["max_abs_diff"] > d["threshold"]
    assert node in proc.stdout and scope in proc.stdout and "**FAIL**" in proc.stdout


def test_missing_file_exit_2(configs, tmp_path):
    proc = run_cli("check", "-c", configs["lite"], tmp_path / "nope.onnx")
    assert proc.returncode == 2
    assert_one_line_error(proc, "not found", "nope.onnx")


def test_unknown_format_and_no_file_exit_2(configs, tmp_path):
    other = tmp_path / "model.pt"
    other.write_bytes(b"x")
    proc = run_cli("check", "-c", configs["lite"], other)
    assert proc.returncode == 2
    assert_one_line_error(proc, "model.pt")
    proc = run_cli("check")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_file_of_another_model_exit_2(models, configs):
    """A 64x64 export checked against coat_lite_nano (224x224): a usage error, exit 2."""
    proc = run_cli("check", "-c", configs["coat_lite_nano"], models["lite"].file("onnx"))
    assert proc.returncode == 2
    assert_one_line_error(proc, "another model", "[1, 3, 64, 64]")


def test_unreadable_image_exit_2(models, configs, tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    (d / "broken.jpg").write_bytes(b"this is not a jpeg")
    proc = run_cli("check", "-c", configs["lite"], models["lite"].file("onnx"), "--images", d)
    assert proc.returncode == 2
    assert_one_line_error(proc, "broken.jpg")


def test_export_onnx_check_writes_passing_parity_json(configs, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("--format", "onnx", "-c", configs["lite"], "--check",
                   "--output_dir", out, script="export.py")
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "small_lite.parity.json").read_text())
    assert data["passed"] is True and data["model"] == "small_lite"
    (c,) = data["comparisons"]
    assert c["candidate"].endswith("small_lite.onnx") and c["passed"] is True
    lines = proc.stdout.splitlines()
    assert lines[0].endswith("small_lite.onnx")  # the exported path first, then the table
    assert "| candidate |" in proc.stdout and "Result: PASS" in proc.stdout
    assert sorted(os.listdir(out)) == ["small_lite.onnx", "small_lite.parity.json"]


def test_export_check_refuses_air(configs, tmp_path):
    proc = run_cli("--format", "air", "-c", configs["lite"], "--check", "--output_dir",
                   tmp_path, script="export.py")
    assert proc.returncode == 2
    assert_one_line_error(proc, "--check")
