"""The seed recipe as MindCV trains it: MindCV's own coat_tiny, Lion, EMA, its trainer and its
yaml; the checkpoint saved from the train network as MindCV's StateMonitor does. Our export is
compared with MindCV's own network loaded the way its validate.py loads it
(`create_model(..., checkpoint_path=..., ema=...)`). Needs MindCV (the test extra)."""
import os
import subprocess
import sys

import numpy as np
import pytest

from support import REPO, pynative_mode

mindcv = pytest.importorskip("mindcv")

RECIPE = os.path.join(REPO, "tests", "fixtures", "mindcv-configs", "coat_tiny_ascend.yaml")


@pytest.fixture(scope="module")
def mindcv_checkpoint(tmp_path_factory):
    """coat_tiny trained by MindCV's machinery with the recipe's optimizer and EMA."""
    import mindspore as ms
    import yaml
    from mindcv.loss import create_loss
    from mindcv.models import create_model
    from mindcv.optim import create_optimizer
    from mindcv.utils import create_trainer

    cfg = yaml.safe_load(open(RECIPE))
    ms.set_context(mode=ms.GRAPH_MODE)
    net = create_model(cfg["model"], num_classes=cfg["num_classes"])
    opt = create_optimizer(net.trainable_params(), opt=cfg["opt"], lr=cfg["lr"],
                           weight_decay=cfg["weight_decay"], loss_scale=cfg["loss_scale"])
    loss = create_loss(name=cfg["loss"], label_smoothing=cfg["label_smoothing"])
    # on CPU MindCV allows only a fixed loss scale without overflow dropping (the recipe's
    # dynamic one needs Ascend); optimizer, EMA and the train step are the recipe's
    trainer = create_trainer(net, loss, opt, metrics=None, amp_level="O0", amp_cast_list=None,
                             loss_scale_type="fixed", loss_scale=cfg["loss_scale"],
                             drop_overflow_update=False, ema=cfg["ema"],
                             ema_decay=cfg["ema_decay"])
    train = trainer.train_network
    rng = np.random.default_rng(0)
    for p in train.ema_weight:   # an EMA that has moved away from the raw weights
        a = p.asnumpy()
        p.set_data(ms.Tensor((a + 0.02 * rng.standard_normal(a.shape)).astype(a.dtype)))
    path = str(tmp_path_factory.mktemp("mindcv") / "coat_tiny-300_5004.ckpt")
    ms.save_checkpoint(train, path)
    return path


def _mindcv_logits(ckpt, ema, x):
    import mindspore as ms
    from mindcv.models import create_model

    net = create_model("coat_tiny", num_classes=1000, checkpoint_path=ckpt, ema=ema)
    net.set_train(False)
    with pynative_mode():
        return net(ms.Tensor(x)).asnumpy()


@pytest.mark.slow
def test_seed_recipe_exports_the_network_mindcv_validates(mindcv_checkpoint, tmp_path):
    import onnxruntime as ort

    x = np.random.default_rng(7).standard_normal((2, 3, 224, 224)).astype(np.float32)
    for flags, ema, weights in (([], True, "ema"), (["--no-ema"], False, "raw")):
        out = tmp_path / weights
        r = subprocess.run([sys.executable, os.path.join(REPO, "export.py"), "-c", RECIPE,
                            "--ckpt_path", mindcv_checkpoint, "--format", "onnx",
                            "--output_dir", str(out), *flags], cwd=tmp_path,
                           capture_output=True, text=True, timeout=1200)
        assert r.returncode == 0, r.stderr
        # MindCV's own keys are known: no warning about the recipe
        assert "warning" not in r.stderr.replace("warning: no --ckpt_path", ""), r.stderr
        assert "lion_m" in r.stderr        # what was dropped is named per prefix
        sess = ort.InferenceSession(str(out / "coat_tiny.onnx"),
                                    providers=["CPUExecutionProvider"])
        meta = sess.get_modelmeta().custom_metadata_map
        assert meta["coat_export.weights"] == weights
        got = np.concatenate([sess.run(None, {sess.get_inputs()[0].name: x[i:i + 1]})[0]
                              for i in range(len(x))])
        ref = _mindcv_logits(mindcv_checkpoint, ema, x)
        assert np.abs(got - ref).max() <= 1e-4 * max(1.0, float(np.abs(ref).max())), weights
    # the two weight sets really are different networks
    assert np.abs(_mindcv_logits(mindcv_checkpoint, True, x[:1])
                  - _mindcv_logits(mindcv_checkpoint, False, x[:1])).max() > 1e-3
