"""The MindSpore CoaT against MindCV: parameter manifests, checkpoints, logits."""
import json

import numpy as np
import pytest

from support import SMALL_FULL, fixture_path

VARIANTS = ["coat_tiny", "coat_mini", "coat_small", "coat_lite_tiny", "coat_lite_mini",
            "coat_lite_small", "coat_lite_medium"]
FIXTURE_NETS = ["coat_lite_nano", "coat_nano"]


def fixture_config(name):
    from coat_export.model import CoaTConfig

    arch = json.load(open(fixture_path(f"{name}.json")))["architecture"]
    arch["in_channels"] = arch.pop("in_chans")
    return CoaTConfig(**arch)


@pytest.mark.parametrize("variant", VARIANTS)
def test_parameters_equal_mindcv_manifest(ms_graph, variant):
    from coat_export.model import create_model

    manifest = json.load(open(fixture_path("manifests", f"{variant}.json")))
    net = create_model(variant)
    ours = [(p.name, list(p.shape)) for p in net.get_parameters()]
    theirs = [(p["name"], p["shape"]) for p in manifest["parameters"]]
    assert ours == theirs  # same names, shapes and order
    assert sum(int(np.prod(s)) for _, s in ours) == manifest["num_params"]
    assert manifest["architecture"]["embed_dims"] == list(net.config.embed_dims)


@pytest.mark.parametrize("name", FIXTURE_NETS)
def test_mindcv_checkpoint_reproduces_mindcv_logits(ms_graph, name):
    from coat_export.model import create_model, load_checkpoint_strict

    net = create_model(fixture_config(name))
    net.set_train(False)
    info = load_checkpoint_strict(net, fixture_path(f"{name}.ckpt"))
    assert info["ignored_training_state"] == [] and info["cast_to_float32"] == []
    x = np.load(fixture_path(f"{name}.input.npy"))
    expected = np.load(fixture_path(f"{name}.logits.npy"))
    logits = net(ms_graph.Tensor(x)).asnumpy()
    assert logits.shape == expected.shape
    assert np.abs(logits - expected).max() <= 1e-4


def test_wrong_variant_checkpoint_names_first_mismatches(ms_graph):
    from coat_export.model import CheckpointError, create_model, load_checkpoint_strict

    net = create_model(fixture_config("coat_lite_nano"))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint_strict(net, fixture_path("coat_nano.ckpt"))
    msg = str(err.value)
    assert "shape mismatch" in msg and "unexpected" in msg
    assert "parallel_blocks.0" in msg  # names the offending parameters


def test_wrong_num_classes_is_a_shape_mismatch(ms_graph):
    from dataclasses import replace

    from coat_export.model import CheckpointError, create_model, load_checkpoint_strict

    net = create_model(replace(fixture_config("coat_nano"), num_classes=7))
    with pytest.raises(CheckpointError, match=r"head\.weight \[10, 48\] != \[7, 48\]"):
        load_checkpoint_strict(net, fixture_path("coat_nano.ckpt"))


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all\n" * 10, "truncated"])
def test_unreadable_checkpoints(ms_graph, tmp_path, content):
    from coat_export.model import CheckpointError, create_model, load_checkpoint_strict

    if content == "truncated":
        content = open(fixture_path("coat_nano.ckpt"), "rb").read()[:5000]
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(content)
    with pytest.raises(CheckpointError, match="bad.ckpt"):
        load_checkpoint_strict(create_model(fixture_config("coat_nano")), str(bad))


def test_training_state_is_filtered_and_float16_cast(ms_graph, tmp_path):
    import mindspore as ms

    from coat_export.model import create_model, load_checkpoint_strict

    params = ms.load_checkpoint(fixture_path("coat_nano.ckpt"))
    entries = [{"name": n, "data": p} for n, p in params.items()]
    entries[0]["data"] = ms.Tensor(params[entries[0]["name"]].asnumpy().astype(np.float16))
    entries += [{"name": "adam_m.head.weight", "data": ms.Tensor(np.zeros((10, 48), np.float32))},
                {"name": "global_step", "data": ms.Tensor(np.array([100], np.int32))}]
    path = str(tmp_path / "train_state.ckpt")
    ms.save_checkpoint(entries, path)
    net = create_model(fixture_config("coat_nano"))
    info = load_checkpoint_strict(net, path)
    assert sorted(info["ignored_training_state"]) == ["adam_m.head.weight", "global_step"]
    assert info["cast_to_float32"] == [entries[0]["name"]]


def test_in_channels_is_honoured(ms_graph):
    from coat_export.model import CoaTConfig, create_model

    net = create_model(CoaTConfig(**{**SMALL_FULL, "in_channels": 1}))
    net.set_train(False)
    assert list(net.patch_embed1.proj.weight.shape) == [32, 1, 4, 4]
    out = net(ms_graph.Tensor(np.zeros((2, 1, 64, 64), np.float32)))
    assert out.shape == (2, 10)


def test_linear_attention_equals_quadratic_order(ms_graph):
    """q @ (softmax(k)^T v) computes MindCV's (q @ softmax(k)^T) @ v."""
    from coat_export.model import CoaTConfig, create_model

    net = create_model(CoaTConfig(**SMALL_FULL))
    net.set_train(False)
    att = net.serial_blocks2[0].factoratt_crpe
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 8 * 8 + 1, 48)).astype(np.float32)
    ours = att(ms_graph.Tensor(x), (8, 8)).asnumpy()

    def dense(cell, v):
        return v @ cell.weight.asnumpy().T + cell.bias.asnumpy()

    def heads(t):
        return t.reshape(2, 65, 8, 6).transpose(0, 2, 1, 3)

    q, k, v = heads(dense(att.q, x)), heads(dense(att.k, x)), heads(dense(att.v, x))
    k_soft = np.exp(k - k.max(axis=2, keepdims=True))
    k_soft /= k_soft.sum(axis=2, keepdims=True)
    quadratic = (q @ k_soft.transpose(0, 1, 3, 2)) @ v  # MindCV's N x N order
    crpe = att.crpe(ms_graph.Tensor(q), ms_graph.Tensor(v), (8, 8)).asnumpy()
    y = (att.scale * quadratic + crpe).transpose(0, 2, 1, 3).reshape(2, 65, 48)
    expected = dense(att.proj, y)
    assert np.abs(ours - expected).max() < 1e-5


@pytest.mark.parametrize("bad, message", [
    (dict(embed_dims=[30, 48, 48, 48]), "divisible by num_heads"),
    (dict(image_size=70), "multiple of"),
    (dict(embed_dims=[32, 48, 64, 64]), "parallel blocks need"),
    (dict(crpe_window={3: 2, 5: 3}), "add up to num_heads"),
])
def test_invalid_architectures_are_explained(bad, message):
    from coat_export.model import CoaTConfig

    with pytest.raises(ValueError, match=message):
        CoaTConfig(**{**SMALL_FULL, **bad})


PAPER_GMACS = {"coat_lite_tiny": 1.6, "coat_lite_mini": 2.0, "coat_lite_small": 4.0,
               "coat_lite_medium": 9.8, "coat_tiny": 4.4, "coat_mini": 6.8, "coat_small": 12.6}


@pytest.mark.parametrize("variant", VARIANTS)
def test_macs_match_the_paper(variant):
    from coat_export.model import variant_config
    from coat_export.model.macs import count_macs

    gmacs = count_macs(variant_config(variant)) / 1e9
    assert abs(gmacs - PAPER_GMACS[variant]) / PAPER_GMACS[variant] < 0.03


def test_default_cfgs_are_mindcv_eval_preprocessing():
    """Each variant's preprocessing is kept beside it (timm's default_cfgs) and is MindCV's eval
    transform (shared/reference: resize int(224 / 0.9) = 248 bicubic, crop 224, ImageNet
    mean/std); a spec without a config takes its variant's."""
    from coat_export.host.config import resolve_spec
    from coat_export.model import DEFAULT_CFGS, VARIANTS

    assert set(DEFAULT_CFGS) == set(VARIANTS)
    for cfg in DEFAULT_CFGS.values():
        assert cfg["crop_pct"] == 0.9 and cfg["interpolation"] == "bicubic"
        assert tuple(cfg["mean"]) == (0.485, 0.456, 0.406)
        assert tuple(cfg["std"]) == (0.229, 0.224, 0.225)
    pre = resolve_spec(model="coat_tiny").preprocessing(224)
    assert pre == {"image_size": 224, "crop_pct": 0.9, "interpolation": "bicubic",
                   "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    assert int(224 / pre["crop_pct"]) == 248
