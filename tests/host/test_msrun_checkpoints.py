"""Checkpoints of `msrun` data-parallel training: every rank's file (rank_<i>/...) loads
strictly, and the ranks hold one network (gradients are averaged across ranks, each rank
trained on its own batch)."""
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from support import REPO, fixture_path

SCRIPT = fixture_path("scripts", "msrun_train_dp.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_msrun_data_parallel_rank_checkpoints_load(tmp_path):
    from coat_export.model import CoaTConfig, create_model, load_checkpoint_strict
    from support import SMALL_LITE

    msrun = os.path.join(os.path.dirname(sys.executable), "msrun")
    if not os.path.exists(msrun):
        pytest.skip("msrun is not installed with this MindSpore")
    out = tmp_path / "ckpt"
    # msrun starts its workers with the `python` on PATH: make it this interpreter
    r = subprocess.run([msrun, "--worker_num=2", "--local_worker_num=2",
                        f"--master_port={_free_port()}", f"--log_dir={tmp_path / 'logs'}",
                        "--join=True", SCRIPT], cwd=tmp_path, capture_output=True, text=True,
                       timeout=900, env=dict(os.environ, REPO=REPO, OUT=str(out),
                                PATH=os.pathsep.join([os.path.dirname(sys.executable),
                                                      os.environ.get("PATH", "")])))
    logs = "".join(p.read_text(errors="replace")[-2000:] for p in (tmp_path / "logs").glob("*"))
    assert r.returncode == 0, logs
    weights = []
    for rank in (0, 1):
        net = create_model(CoaTConfig(**SMALL_LITE))
        info = load_checkpoint_strict(net, str(out / f"rank_{rank}" / "coat-1_1.ckpt"))
        assert info["weights"] == "raw" and info["dropped_summary"].startswith("moments")
        weights.append({p.name: p.asnumpy() for p in net.get_parameters()})
    for name, value in weights[0].items():
        np.testing.assert_allclose(weights[1][name], value, rtol=1e-6, atol=1e-7, err_msg=name)
