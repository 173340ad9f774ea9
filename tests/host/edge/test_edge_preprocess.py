"""Preprocessing = MindCV's eval transform; image modes; undecodable files."""
import io
import os

import numpy as np
import pytest
from PIL import Image

from .helpers import sklearn_images
from coat_export.edge.errors import UserError
from coat_export.edge.preprocess import (ImageDecodeError, PreprocessConfig, list_image_folder,
                                    list_images, load_image, preprocess_batch, preprocess_image,
                                    resize_size)

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def reference(img: Image.Image, image_size=224, crop_pct=0.9):
    """MindCV's eval transform written out step by step (float64)."""
    img = img.convert("RGB")
    scale = int(image_size / crop_pct)
    w, h = img.size
    if w <= h:
        size = (scale, int(h * scale / w))
    else:
        size = (int(w * scale / h), scale)
    img = img.resize(size, Image.BICUBIC)
    left = (size[0] - image_size) // 2
    top = (size[1] - image_size) // 2
    img = img.crop((left, top, left + image_size, top + image_size))
    a = np.asarray(img, dtype=np.float64)
    out = np.empty((3, image_size, image_size))
    for c in range(3):
        out[c] = (a[:, :, c] / 255.0 - MEAN[c]) / STD[c]
    return out


def _rgb(w, h, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def test_resize_size_is_mindcv_scale():
    assert resize_size(224, 0.9) == 248
    assert resize_size(224, 0.875) == 256
    assert PreprocessConfig().resize_size == 248


@pytest.mark.parametrize("w,h", [(640, 427), (301, 211), (35, 60), (248, 248), (100, 100)])
def test_matches_reference(w, h):
    img = _rgb(w, h)
    got = preprocess_image(img, PreprocessConfig())
    assert got.shape == (3, 224, 224) and got.dtype == np.float32
    np.testing.assert_allclose(got, reference(img), atol=1e-5)


def test_sample_photos_match_reference():
    for path in sklearn_images():
        got = preprocess_image(path)
        np.testing.assert_allclose(got, reference(Image.open(path)), atol=1e-5)


def test_matches_mindspore_vision_ops():
    """MindSpore's own ops (PIL path) where the crop offset is unambiguous; MindSpore's C++
    CenterCrop (what MindCV runs) for the floor rule on odd margins."""
    ds_vision = pytest.importorskip("mindspore.dataset.vision")
    img = _rgb(300, 200)  # 300x200 -> 372x248: margins 148 and 24 (even)
    x = ds_vision.Resize(248, ds_vision.Inter.BICUBIC)(img)
    x = ds_vision.CenterCrop(224)(x)
    x = ds_vision.ToTensor()(x)
    x = ds_vision.Normalize(list(MEAN), list(STD), is_hwc=False)(x)
    np.testing.assert_allclose(preprocess_image(img), x, atol=1e-6)
    rows = np.repeat(np.arange(35, dtype=np.uint8)[:, None, None], 35, 1).repeat(3, 2)
    cropped = ds_vision.CenterCrop(32)(rows)
    assert int(cropped[0, 0, 0]) == (35 - 32) // 2


def test_config_round_trip_and_mindcv_keys():
    cfg = PreprocessConfig(image_size=32, crop_pct=0.875, interpolation="bilinear")
    assert PreprocessConfig.from_dict(cfg.to_dict()) == cfg
    assert PreprocessConfig.from_dict({"image_resize": 256, "crop_pct": 0.95,
                                       "other": 1}).image_size == 256
    with pytest.raises(ValueError):
        PreprocessConfig(crop_pct=1.5)
    with pytest.raises(ValueError):
        PreprocessConfig(interpolation="magic")


def test_grayscale_is_replicated():
    g = Image.fromarray(np.arange(64 * 48, dtype=np.uint32).reshape(48, 64).astype(np.uint8), "L")
    x = preprocess_image(g, PreprocessConfig(image_size=32))
    # the same pixel in all channels: (x * std + mean) equal across channels
    raw = x * STD[:, None, None] + MEAN[:, None, None]
    np.testing.assert_allclose(raw[0], raw[1], atol=1e-5)
    np.testing.assert_allclose(raw[0], raw[2], atol=1e-5)
    np.testing.assert_allclose(x, reference(g, 32), atol=1e-5)


def test_palette_with_transparency(tmp_path):
    p = Image.new("P", (40, 40))
    p.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    p.paste(1, (0, 0, 20, 40))
    path = tmp_path / "pal.png"
    p.save(path, transparency=0)
    img = load_image(str(path))
    assert img.mode == "RGB"
    a = np.asarray(img)
    assert tuple(a[5, 5]) == (0, 255, 0) and tuple(a[5, 35]) == (255, 0, 0)  # palette colours
    np.testing.assert_allclose(preprocess_image(str(path), PreprocessConfig(image_size=32)),
                               reference(Image.open(path).convert("RGBA"), 32), atol=1e-5)


def test_rgba_drops_alpha_like_convert_rgb(tmp_path):
    a = np.zeros((40, 40, 4), np.uint8)
    a[..., 0] = 200
    a[..., 3] = 0  # fully transparent, but the stored colour is red
    path = tmp_path / "rgba.png"
    Image.fromarray(a, "RGBA").save(path)
    img = load_image(str(path))
    assert tuple(np.asarray(img)[0, 0]) == (200, 0, 0)


def test_cmyk(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (50, 40), (0, 255, 255, 0)).save(path)
    img = load_image(str(path))
    assert img.mode == "RGB"
    r, g, b = np.asarray(img)[20, 25].astype(int)
    assert r > 200 and g < 60 and b < 60  # CMYK (0,255,255,0) is red
    assert preprocess_image(str(path), PreprocessConfig(image_size=32)).shape == (3, 32, 32)


def test_16bit_grayscale_scaled_not_clipped(tmp_path):
    a = np.full((40, 40), 32768, np.uint16)  # mid-grey in 16 bits
    path = tmp_path / "g16.png"
    Image.fromarray(a).save(path)
    img = load_image(str(path))
    assert tuple(np.asarray(img)[0, 0]) == (128, 128, 128)


def test_corrupt_and_non_image_files(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    buf = io.BytesIO()
    _rgb(64, 64).save(buf, "JPEG")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(buf.getvalue()[:200])
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    for p in (text, truncated, empty, tmp_path / "missing.png"):
        with pytest.raises(ImageDecodeError) as e:
            preprocess_image(str(p))
        assert isinstance(e.value, UserError)
        assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_batch_and_skip_errors(tmp_path):
    good = tmp_path / "a.png"
    _rgb(50, 50).save(good)
    bad = tmp_path / "b.png"
    bad.write_text("x")
    cfg = PreprocessConfig(image_size=32)
    assert preprocess_batch([str(good)] * 3, cfg).shape == (3, 3, 32, 32)
    with pytest.raises(ImageDecodeError):
        preprocess_batch([str(good), str(bad)], cfg)
    batch, kept, errors = preprocess_batch([str(bad), str(good)], cfg, skip_errors=True)
    assert batch.shape == (1, 3, 32, 32) and kept == [1] and errors[0][0] == 0


def test_list_images_and_image_folder(tmp_path):
    for cls in ("b", "a"):
        (tmp_path / cls).mkdir()
        _rgb(8, 8).save(tmp_path / cls / "x.png")
    (tmp_path / "a" / "readme.txt").write_text("-")
    assert [os.path.basename(p) for p in list_images(str(tmp_path / "a"))] == ["x.png"]
    classes, samples = list_image_folder(str(tmp_path))
    assert classes == ["a", "b"] and [c for _, c in samples] == [0, 1]
    with pytest.raises(UserError):
        list_image_folder(str(tmp_path / "a"))
