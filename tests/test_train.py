"""Training pipeline on CPU with tiny real data: GAN phases, distillation, export parity, INT8 PTQ, Hub folder."""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from PIL import Image
from safetensors.numpy import load_file

from tests.conftest import read_pixels, save_generator_onnx, write_manifest
from train import align_faces, bundle, distill, evaluate, export, metrics, push, quantize, recalibrate_bn
from train.checkpoint import load_weights, loss_description, read_meta, save_checkpoint, widened
from train.data import cached_teacher_output, random_crop
from train.losses import high_pass
from train.metrics import EditCaptured
from train.model import (ARCHITECTURES, ContextGenerator, ContextStatsGenerator, Discriminator, FastGenerator,
                         Generator, GuidedContextGenerator, GuidedContextStatsGenerator, PictureStatsGenerator,
                         PictureStatsHiresGenerator, UNetGenerator, build_generator, count_parameters, guided_filter,
                         picture_side)
from train.teachers import TeacherChain
from train.train import TrainConfig, train


def _conv(name, cin, cout, stride, rng):
    w = numpy_helper.from_array((rng.standard_normal((cout, cin, 3, 3)) * 0.3).astype(np.float32), f"{name}_w")
    return w, helper.make_node("Conv", ["x" if name == "c1" else "r1", f"{name}_w"], [name], pads=[1, 1, 1, 1],
                               strides=[stride, stride])


@pytest.fixture(scope="module")
def feature_onnx(tmp_path_factory) -> Path:
    """A tiny 2-conv CNN as an ONNX 'classifier' with a feature tap (stands in for MobileNetV2 in tests)."""
    rng = np.random.default_rng(0)
    w1, c1 = _conv("c1", 3, 8, 2, rng)
    w2, c2 = _conv("c2", 8, 16, 2, rng)
    relu = helper.make_node("Relu", ["c1"], ["r1"])
    graph = helper.make_graph([c1, relu, c2], "features",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info("c2", TensorProto.FLOAT, None)], [w1, w2])
    path = tmp_path_factory.mktemp("feat") / "features.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), str(path))
    return path


@pytest.fixture(scope="module")
def teacher_onnx(tmp_path_factory) -> Path:
    """A small 'teacher': a fixed colour grading (warm, contrasty) as an ONNX graph."""
    gain = numpy_helper.from_array(np.array([1.2, 1.0, 0.7], np.float32).reshape(1, 3, 1, 1), "gain")
    bias = numpy_helper.from_array(np.array([0.1, 0.0, -0.1], np.float32).reshape(1, 3, 1, 1), "bias")
    nodes = [helper.make_node("Mul", ["input", "gain"], ["m"]), helper.make_node("Add", ["m", "bias"], ["a"]),
             helper.make_node("Tanh", ["a"], ["output"])]
    return save_generator_onnx(tmp_path_factory.mktemp("teacher") / "teacher.onnx", nodes, [gain, bias])


@pytest.fixture(scope="module")
def photo_dirs(tmp_path_factory, portrait, scene) -> tuple[Path, Path]:
    """Real photo crops (scenes/ and faces/) and 'anime frames' (posterised photos) for the style folder."""
    root = tmp_path_factory.mktemp("data")
    for folder in ("scenes", "faces", "style"):
        (root / folder).mkdir()
    for i in range(12):
        y, x = (i * 23) % 200, (i * 37) % 250
        Image.fromarray(scene[y:y + 160, x:x + 200]).save(root / "scenes" / f"s{i}.jpg")
        Image.fromarray(portrait[x // 2:x // 2 + 180, y:y + 180]).save(root / "faces" / f"f{i}.jpg")
        Image.fromarray((scene[y:y + 150, x:x + 150] // 64 * 64).astype(np.uint8)).save(root / "style" / f"a{i}.png")
    return root, root / "style"


def test_generators_have_the_documented_sizes():
    assert 2.0e6 < count_parameters(Generator()) < 2.3e6
    assert 0.9e6 < count_parameters(UNetGenerator()) < 1.2e6
    x = torch.rand(1, 3, 48, 64) * 2 - 1
    assert 0.9e6 < count_parameters(ContextGenerator()) < 1.0e6    # ~1.2 MB INT8: beside a face model, < 2.5 MB
    for arch in ARCHITECTURES:
        model = build_generator(arch, 0.5)
        side = picture_side(model)
        y = model(x, torch.rand(1, 3, side, side) * 2 - 1) if side else model(x)
        assert y.shape == x.shape and y.abs().max() <= 1
    assert Discriminator()(x).shape[:2] == (1, 1)


def test_unet_student_starts_as_the_identity_and_sees_a_whole_face():
    model = UNetGenerator().eval()
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    assert torch.equal(model(x), x)
    torch.nn.init.normal_(model.out_layer.weight, std=0.1)
    x.requires_grad_(True)
    model(x)[0, :, 128, 128].sum().backward()
    seen = (x.grad[0].abs().sum(0) > 0).nonzero()
    assert (seen.max(0).values - seen.min(0).values >= 200).all(), "one output pixel depends on a >200 px window"


def test_context_student_grows_from_a_fast_one_and_sees_a_whole_face(tmp_path):
    torch.manual_seed(0)
    fast = FastGenerator().eval()
    for module in fast.modules():          # a 'trained' fast student: every weight non-zero, output not saturated
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.normal_(module.weight, std=0.02)
    save_checkpoint(tmp_path / "fast.safetensors", {"generator": fast}, {}, {"arch": "fast", "width": 1.0})
    grown = ContextGenerator()
    with pytest.raises(RuntimeError, match="context_down"):
        load_weights(tmp_path / "fast.safetensors", grown)      # only the context branch may be missing
    load_weights(tmp_path / "fast.safetensors", grown, optional=grown.GROWN_MODULES)
    grown.eval()
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    assert torch.equal(grown(x), fast(x))                        # starts as exactly the fast student
    torch.nn.init.normal_(grown.context_up[-1][1].weight, std=0.1)
    x.requires_grad_(True)
    grown(x)[0, :, 128, 128].sum().backward()
    seen = (x.grad[0].abs().sum(0) > 0).nonzero()
    assert (seen.max(0).values - seen.min(0).values >= 200).all(), "one output pixel depends on a >200 px window"
    save_checkpoint(tmp_path / "grown.safetensors", {"generator": grown}, {}, {"arch": "context", "width": 1.0})
    grown_onnx = tmp_path / "grown.onnx"
    assert export.main(["--checkpoint", str(tmp_path / "grown.safetensors"), "--out", str(grown_onnx)]) < 1e-4


def test_hires_unet_widens_from_a_plain_one_and_starts_as_exactly_it(tmp_path):
    torch.manual_seed(0)
    plain = build_generator("unet").eval()
    for module in plain.modules():         # a 'trained' U-Net: every weight non-zero, output not saturated
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.normal_(module.weight, std=0.02)
    save_checkpoint(tmp_path / "unet.safetensors", {"generator": plain}, {}, {"arch": "unet", "width": 1.0})
    wide = build_generator("unet_hires")
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_weights(tmp_path / "unet.safetensors", wide)        # widening only when asked for
    load_weights(tmp_path / "unet.safetensors", wide, grow=True)
    wide.eval()
    assert wide.encoders[0][0][0].weight.shape[0] > plain.encoders[0][0][0].weight.shape[0]
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert torch.equal(wide(x), plain(x))                         # the new channels add nothing yet
    torch.nn.init.normal_(wide.out_layer.weight, std=0.1)         # ... and do once training moves them
    assert not torch.equal(wide(x), plain(x))
    with pytest.raises(ValueError, match="cannot widen"):
        widened(torch.zeros(8, 4, 3, 3), torch.zeros(4, 4, 3, 3))


def guided_filter_by_loops(guide: np.ndarray, src: np.ndarray, eps: float) -> np.ndarray:
    """He et al.'s guided filter (radius 1, one channel) written out pixel by pixel, windows cut at the border."""
    h, w = guide.shape
    window = lambda y, x: (slice(max(y - 1, 0), y + 2), slice(max(x - 1, 0), x + 2))  # noqa: E731
    a, b = np.zeros_like(guide), np.zeros_like(guide)
    for y in range(h):
        for x in range(w):
            g, s = guide[window(y, x)], src[window(y, x)]
            a[y, x] = ((g * s).mean() - g.mean() * s.mean()) / (g.var() + eps)
            b[y, x] = s.mean() - a[y, x] * g.mean()
    return np.array([[a[window(y, x)].mean() * guide[y, x] + b[window(y, x)].mean() for x in range(w)]
                     for y in range(h)])


def test_guided_student_ends_in_the_guided_filter_kept_float_in_int8(tmp_path, photo_dirs):
    rng = np.random.default_rng(0)
    guide, src = rng.uniform(-1, 1, (2, 3, 7, 9))
    got = guided_filter(torch.from_numpy(guide)[None], torch.from_numpy(src)[None], eps=0.05)[0].numpy()
    for channel in range(3):
        np.testing.assert_allclose(got[channel], guided_filter_by_loops(guide[channel], src[channel], 0.05), atol=1e-9)

    torch.manual_seed(0)
    plain = ContextGenerator().eval()
    torch.nn.init.normal_(plain.out_layer.weight, std=0.05)
    save_checkpoint(tmp_path / "plain.safetensors", {"generator": plain}, {}, {"arch": "context", "width": 1.0})
    guided = GuidedContextGenerator()
    load_weights(tmp_path / "plain.safetensors", guided)          # no weights of its own: starts from the plain one
    guided.eval()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert torch.allclose(guided(x), torch.clamp(guided_filter(x, plain.unclipped(x)), -1, 1))
    assert not torch.allclose(guided(x), plain(x), atol=1e-2)

    root, _ = photo_dirs
    save_checkpoint(tmp_path / "guided.safetensors", {"generator": guided}, {}, {"arch": "context_guided", "width": 1.0})
    fp32, int8 = tmp_path / "guided.onnx", tmp_path / "guided.int8.onnx"
    assert export.main(["--checkpoint", str(tmp_path / "guided.safetensors"), "--out", str(fp32)]) < 1e-4
    report = quantize.main(["--model", str(fp32), "--calib", str(root / "scenes"), "--out", str(int8),
                            "--count", "4", "--size", "96", "--eval-count", "2"])
    filter_ops = {n.name for n in onnx.load(str(fp32)).graph.node if n.op_type in ("AveragePool", "Div")}
    assert len(filter_ops) == 7 and filter_ops <= set(report.float_nodes)   # the division stays float in INT8
    assert report.int8_vs_fp32["psnr_db"] > 30


def test_picture_stats_student_grows_from_a_fast_one_and_is_told_the_whole_picture(tmp_path, photo_dirs,
                                                                                     teacher_onnx):
    torch.manual_seed(0)
    fast = FastGenerator(0.5).eval()
    torch.nn.init.normal_(fast.out_layer.weight, std=0.05)
    save_checkpoint(tmp_path / "fast.safetensors", {"generator": fast}, {}, {"arch": "fast", "width": 0.5})
    grown = PictureStatsGenerator(0.5)
    load_weights(tmp_path / "fast.safetensors", grown, optional=grown.GROWN_MODULES)
    grown.eval()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    picture = torch.rand(2, 3, 128, 128) * torch.tensor([0.2, 1.0]).view(2, 1, 1, 1) - 0.8   # a dark, a brighter one
    assert torch.equal(grown(x, picture[:1]), fast(x)) and torch.equal(grown(x, picture[1:]), fast(x))  # as it was
    torch.nn.init.normal_(grown.picture_film.weight, std=0.5)
    assert not torch.equal(grown(x, picture[:1]), grown(x, picture[1:]))   # once trained, the picture counts

    root, _ = photo_dirs
    run = tmp_path / "run"
    distill.main(["--teacher", str(teacher_onnx), "--photos", str(root / "scenes"), "--out", str(run), "--steps", "2",
                  "--batch", "2", "--crop", "64", "--sizes", "96", "--val-every", "2", "--val-count", "2",
                  "--val-size", "96", "--warmup", "1", "--width", "0.5", "--arch", "fast_stats", "--holdout", "0.2",
                  "--phase-lock", "--init", str(tmp_path / "fast.safetensors")])
    assert np.isfinite(json.loads((run / "history.jsonl").read_text().splitlines()[-1])["edit_captured"])
    fp32, int8 = tmp_path / "stats.onnx", tmp_path / "stats.int8.onnx"
    assert export.main(["--checkpoint", str(run / "last.safetensors"), "--out", str(fp32)]) < 1e-4
    assert [(i.name, i.type.tensor_type.shape.dim[2].dim_value) for i in onnx.load(str(fp32)).graph.input] == [
        ("input", 0), ("picture", 128)]
    report = quantize.main(["--model", str(fp32), "--calib", str(root / "scenes"), "--out", str(int8),
                            "--count", "4", "--size", "96", "--eval-count", "2"])
    assert report.int8_vs_fp32["psnr_db"] > 30
    assert np.isfinite(evaluate.evaluate(int8, [teacher_onnx], sorted((root / "scenes").iterdir())[:2], size=96)[
        "edit_captured"])


def test_a_student_told_the_picture_grows_more_work_at_full_resolution(tmp_path, photo_dirs):
    torch.manual_seed(0)
    told = PictureStatsGenerator(0.5).eval()
    torch.nn.init.normal_(told.out_layer.weight, std=0.05)
    torch.nn.init.normal_(told.picture_film.weight, std=0.5)
    save_checkpoint(tmp_path / "told.safetensors", {"generator": told}, {}, {"arch": "fast_stats", "width": 0.5})
    grown = PictureStatsHiresGenerator(0.5)
    with pytest.raises(RuntimeError, match="full_refine"):
        load_weights(tmp_path / "told.safetensors", grown, optional=PictureStatsGenerator.GROWN_MODULES)
    load_weights(tmp_path / "told.safetensors", grown, optional=grown.GROWN_MODULES)
    grown.eval()
    x, picture = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 128, 128) * 2 - 1
    assert torch.equal(grown(x, picture), told(x, picture))                     # starts as it was
    for block in grown.full_refine:
        torch.nn.init.normal_(block.layers[-1][1].weight, std=0.5)
    assert not torch.equal(grown(x, picture), told(x, picture))                 # once trained, the blocks count

    root, _ = photo_dirs
    meta = {"arch": "fast_stats_hires", "width": 0.5}
    save_checkpoint(tmp_path / "grown.safetensors", {"generator": grown}, {}, meta)
    fp32, int8 = tmp_path / "grown.onnx", tmp_path / "grown.int8.onnx"
    assert export.main(["--checkpoint", str(tmp_path / "grown.safetensors"), "--out", str(fp32)]) < 1e-4
    report = quantize.main(["--model", str(fp32), "--calib", str(root / "scenes"), "--out", str(int8),
                            "--count", "4", "--size", "96", "--eval-count", "2"])
    assert report.int8_vs_fp32["psnr_db"] > 30


def test_a_guided_context_student_grows_into_one_told_the_whole_picture(tmp_path, photo_dirs):
    torch.manual_seed(0)
    guided = GuidedContextGenerator(0.5).eval()
    torch.nn.init.normal_(guided.out_layer.weight, std=0.05)
    torch.nn.init.normal_(guided.context_up[-1][1].weight, std=0.5)   # a context branch that has learned something
    meta = {"arch": "context_guided", "width": 0.5}
    save_checkpoint(tmp_path / "guided.safetensors", {"generator": guided}, {}, meta)
    grown = GuidedContextStatsGenerator(0.5)
    load_weights(tmp_path / "guided.safetensors", grown, optional=grown.GROWN_MODULES)
    grown.eval()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    dark, bright = torch.full((1, 3, 128, 128), -0.8), torch.full((1, 3, 128, 128), 0.6)
    assert torch.equal(grown(x, dark), guided(x)) and torch.equal(grown(x, bright), guided(x))   # starts as it was
    torch.nn.init.normal_(grown.picture_film.weight, std=0.5)
    assert not torch.equal(grown(x, dark), grown(x, bright))

    root, _ = photo_dirs
    save_checkpoint(tmp_path / "grown.safetensors", {"generator": grown}, {},
                    {"arch": "context_guided_stats", "width": 0.5})
    fp32, int8 = tmp_path / "grown.onnx", tmp_path / "grown.int8.onnx"
    assert export.main(["--checkpoint", str(tmp_path / "grown.safetensors"), "--out", str(fp32)]) < 1e-4
    graph = onnx.load(str(fp32)).graph
    assert [i.name for i in graph.input] == ["input", "picture"]
    report = quantize.main(["--model", str(fp32), "--calib", str(root / "scenes"), "--out", str(int8),
                            "--count", "4", "--size", "96", "--eval-count", "2"])
    filter_ops = {n.name for n in graph.node if n.op_type == "Div"}
    assert filter_ops and filter_ops <= set(report.float_nodes)   # the guided filter's division stays float
    assert report.int8_vs_fp32["psnr_db"] > 30



def test_a_student_told_the_picture_grows_a_wider_view(tmp_path):
    torch.manual_seed(0)
    told = PictureStatsGenerator(0.5).eval()
    torch.nn.init.normal_(told.out_layer.weight, std=0.05)
    torch.nn.init.normal_(told.picture_film.weight, std=0.5)   # a picture branch that has learned something
    save_checkpoint(tmp_path / "told.safetensors", {"generator": told}, {}, {"arch": "fast_stats", "width": 0.5})
    grown = ContextStatsGenerator(0.5)
    load_weights(tmp_path / "told.safetensors", grown, optional=grown.GROWN_MODULES)
    grown.eval()
    x, picture = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 128, 128) * 2 - 1
    assert torch.equal(grown(x, picture), told(x, picture))                     # starts as it was
    torch.nn.init.normal_(grown.context_up[-1][1].weight, std=0.5)
    far = x.clone()
    far[..., :16, :16] = -x[..., :16, :16]                  # a change ~60 px from the far corner: past the 1/4 view
    assert torch.equal(told(x, picture)[..., -8:, -8:], told(far, picture)[..., -8:, -8:])
    assert not torch.equal(grown(x, picture)[..., -8:, -8:], grown(far, picture)[..., -8:, -8:])


def test_batchnorm_statistics_are_recomputed_over_the_runs_own_training_crops(tmp_path, photo_dirs):
    root, _ = photo_dirs
    torch.manual_seed(0)
    model = PictureStatsGenerator(0.5)
    for norm in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        norm.running_mean.fill_(3.0)                          # statistics a noisy last batch left behind
        norm.running_var.fill_(50.0)
    meta = {"arch": "fast_stats", "width": 0.5, "photos": [str(root / "scenes"), str(root / "faces")],
            "sizes": [96], "crop": 64, "batch": 2, "multiple": 8, "phase_lock": True, "step": 10}
    save_checkpoint(tmp_path / "best.safetensors", {"generator": model}, {}, meta)
    out = recalibrate_bn.main(["--run", str(tmp_path), "--crops", "12"])
    meta_out = read_meta(out)
    assert meta_out["bn_recalibrated"] == 12 and meta_out["step"] == 10
    assert "BatchNorm statistics recomputed over 12 training crops" in bundle.training_crops(meta_out)
    recalibrated = PictureStatsGenerator(0.5)
    load_weights(out, recalibrated)

    batches = list(recalibrate_bn.training_batches(meta, 12))
    assert [len(photos) for photos, _ in batches] == [8, 4] and batches[0][1].shape[1:] == (3, 128, 128)
    with torch.no_grad():      # the first BatchNorm sees the first conv's output: the average of its batch means
        expected = torch.stack([model.enc_full[0](photos).mean(dim=(0, 2, 3)) for photos, _ in batches]).mean(0)
    assert torch.allclose(recalibrated.enc_full[1].running_mean, expected, atol=1e-5)
    for name, weight in model.state_dict().items():            # weights untouched
        if "running" not in name and "num_batches" not in name:
            assert torch.equal(weight, recalibrated.state_dict()[name])

def test_a_cached_teacher_output_of_another_shape_is_made_again(tmp_path):
    calls = []

    def teacher(photo: np.ndarray) -> np.ndarray:
        calls.append(photo.shape)
        return 255 - photo

    cached = tmp_path / "val512__scenes__a.png"
    rng = np.random.default_rng(0)
    first, second = (rng.integers(0, 256, shape, dtype=np.uint8) for shape in ((64, 48, 3), (60, 48, 3)))
    assert np.array_equal(cached_teacher_output(teacher, first, cached), 255 - first)
    assert np.array_equal(cached_teacher_output(teacher, first, cached), 255 - first) and len(calls) == 1
    assert np.array_equal(cached_teacher_output(teacher, second, cached), 255 - second)   # the photo at a new multiple
    assert calls == [(64, 48, 3), (60, 48, 3)]


def test_phase_locked_crops_stay_on_the_stride_grid_and_are_never_mirrored():
    image = np.arange(100 * 120).reshape(100, 120)           # each pixel holds its own position
    rng = random.Random(0)
    corners = set()
    for _ in range(200):
        (crop,) = random_crop([image], 32, rng, grid=16)
        y, x = divmod(int(crop[0, 0]), 120)
        assert y % 16 == 0 and x % 16 == 0 and crop[0, 1] == crop[0, 0] + 1
        corners.add((y, x))
    assert len(corners) == len(range(0, 69, 16)) * len(range(0, 89, 16))   # ... and reach every grid position
    free = [random_crop([image], 32, rng)[0] for _ in range(200)]
    assert any(c[0, 1] < c[0, 0] for c in free) and any(int(c[0, 0]) % 120 % 16 for c in free)


def test_edit_captured_is_100_for_the_teacher_and_0_for_the_photo(portrait):
    teacher = (portrait // 32 * 32).astype(np.uint8)        # a posterising 'teacher': changes colour and detail
    halfway = ((portrait.astype(int) + teacher) // 2).astype(np.uint8)
    scores = {}
    for name, student in (("teacher", teacher), ("photo", portrait), ("halfway", halfway)):
        captured = EditCaptured()
        captured.add(portrait, teacher, student)
        scores[name] = (captured.edit, captured.detail)
    assert scores["teacher"] == (1.0, 1.0) and scores["photo"] == (0.0, 0.0)
    assert 0.7 < scores["halfway"][0] < 0.8    # half the change leaves a quarter of the squared error


def test_detail_loss_band_is_the_band_detail_captured_measures(portrait):
    band = high_pass(torch.from_numpy(portrait.astype(np.float64)).permute(2, 0, 1)[None])[0].permute(1, 2, 0)
    assert np.abs(band.numpy() - metrics.high_pass(portrait)).max() < 1e-9
    assert band.abs().mean() > 1          # a real photo has detail


def _contrast_halving_onnx(path: Path) -> Path:
    """A 'teacher' that halves the picture's contrast around its mean: what it does to a spot depends on the rest."""
    half = numpy_helper.from_array(np.array(0.5, np.float32), "half")
    return save_generator_onnx(path, [helper.make_node("ReduceMean", ["input"], ["mean"], axes=[2, 3]),
                                      helper.make_node("Sub", ["input", "mean"], ["centred"]),
                                      helper.make_node("Mul", ["centred", "half"], ["output"])], [half])


def test_context_probe_scores_a_local_teacher_100_and_a_global_one_less(teacher_onnx, portrait_file, tmp_path):
    from train import context_probe

    local = context_probe.probe(TeacherChain([teacher_onnx]), [portrait_file], [128, 256])
    assert local == {w: {"edit_captured": 1.0, "detail_captured": 1.0} for w in (128, 256)}
    scores = context_probe.probe(TeacherChain([_contrast_halving_onnx(tmp_path / "global.onnx")]), [portrait_file],
                                 [128, 256])
    assert scores[128]["edit_captured"] < 0.9 < scores[128]["detail_captured"]      # its colours, not its lines
    assert scores[128]["edit_captured"] < scores[256]["edit_captured"]               # a wider window sees more
    with pytest.raises(ValueError, match="multiples"):
        context_probe.probe(TeacherChain([teacher_onnx]), [portrait_file], [130])


def test_gap_probe_splits_the_error_into_bands_and_finds_what_a_colour_map_would_fix(portrait_file, scene,
                                                                                   tmp_path):
    from train import gap_probe
    from train.data import write_rgb

    teacher = TeacherChain([_contrast_halving_onnx(tmp_path / "global.onnx")])
    photos = [portrait_file, tmp_path / "scene.png"]
    write_rgb(photos[1], scene)
    same = gap_probe.probe(teacher, tmp_path / "global.onnx", photos)
    assert all(band["captured"] > 0.99 for band in same["bands"].values())
    assert same["student"]["edit_captured"] > 0.99
    # a student that does nothing captures nothing in any band; the teacher is one colour map per picture, so the
    # fitted map recovers it, and its edit lies in the coarse bands (a contrast change, no new lines)
    idle = gap_probe.probe(teacher, save_generator_onnx(tmp_path / "idle.onnx", [helper.make_node(
        "Identity", ["input"], ["output"])]), photos)
    assert all(abs(band["captured"]) < 1e-6 for band in idle["bands"].values())
    assert sum(band["share_of_edit"] for band in idle["bands"].values()) == pytest.approx(1, abs=1e-3)
    assert idle["student"] == {"edit_captured": 0.0, "detail_captured": 0.0}
    assert idle["with_colour_map"]["edit_captured"] > 0.99
    assert "| global |" in gap_probe.markdown({"global": idle})


def test_phase_probe_scores_a_pointwise_teacher_100_and_a_strided_one_less_off_its_grid(teacher_onnx, portrait_file,
                                                                                        tmp_path):
    from train import phase_probe

    assert phase_probe.probe(TeacherChain([teacher_onnx]), [portrait_file], [1, 2], size=256) == {
        s: {"edit_captured": 1.0, "detail_captured": 1.0} for s in (1, 2)}
    # a 'teacher' that samples the picture on a 2 px grid: 2×2 average, then nearest upsampling
    scales = numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")
    nodes = [helper.make_node("AveragePool", ["input"], ["pooled"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Resize", ["pooled", "", "scales"], ["output"], mode="nearest")]
    save_generator_onnx(tmp_path / "strided.onnx", nodes, [scales])
    scores = phase_probe.probe(TeacherChain([tmp_path / "strided.onnx"]), [portrait_file], [1, 2], size=256)
    assert scores[2] == {"edit_captured": 1.0, "detail_captured": 1.0}          # the grid moved by a whole period
    assert scores[1]["detail_captured"] < 0.8 and scores[1]["edit_captured"] < 1  # half a period: other strokes
    with pytest.raises(ValueError, match="shifts"):
        phase_probe.probe(TeacherChain([teacher_onnx]), [portrait_file], [0])


def test_teacher_chain_applies_its_teachers_in_order(teacher_onnx, portrait):
    from animegan.engine import OnnxGenerator

    one = OnnxGenerator(teacher_onnx, multiple=4)
    chain = TeacherChain([teacher_onnx, teacher_onnx])
    assert chain.ids == ["teacher", "teacher"]
    np.testing.assert_array_equal(chain(portrait), one(one(portrait)))


def test_align_faces_keeps_held_out_photos_apart(tmp_path, portrait):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        Image.fromarray(portrait).save(photos / name)
    Image.fromarray(portrait[400:, :200]).save(photos / "no_face.jpg")
    assert align_faces.align_folder([photos], tmp_path / "faces", size=256, min_face=64, holdout=0.5) == (4, 3)
    written = sorted((tmp_path / "faces").rglob("*.png"))
    from train.data import is_held_out
    assert {f"{p.parent.name}/{p.name}" for p in written} == {
        f"{'held_out' if is_held_out(photos / n, 0.5) else 'train'}/photos__{Path(n).stem}__0.png"
        for n in ("a.jpg", "b.jpg", "c.jpg")}
    assert read_pixels(written[0]).shape[:2] == (256, 256)


def test_gan_training_runs_both_phases_and_resumes(tmp_path, photo_dirs, feature_onnx):
    root, style = photo_dirs
    cfg = TrainConfig(photos=[str(root / "scenes")], style=[str(style)], out=str(tmp_path / "gan"),
                      features=f"{feature_onnx}:c2", arch="classic", width=0.25, crop=64, batch=2, init_steps=2,
                      gan_steps=4, ckpt_every=3, workers=0, log_every=1, sample_every=2)
    torch.manual_seed(0)
    before = {k: v.clone() for k, v in build_generator("classic", 0.25).state_dict().items()}
    first = train(cfg, max_steps=3)
    assert first["step"] == 3 and "init/content" in first["history"][0] and "gan/adversarial" in first["history"][2]
    assert all(np.isfinite(v) for h in first["history"] for v in h.values())
    assert read_meta(tmp_path / "gan" / "last.safetensors")["step"] == 3
    second = train(cfg, resume=True)
    assert second["step"] == 6 and len(second["history"]) == 3  # continued from the saved step
    from safetensors.torch import load_file
    after = load_file(str(tmp_path / "gan" / "last.safetensors"))
    changed = [k for k, v in before.items() if v.is_floating_point() and not torch.equal(v, after[f"generator.{k}"])]
    assert changed, "training must change the generator weights"


@pytest.fixture(scope="module")
def distilled(tmp_path_factory, photo_dirs, teacher_onnx, feature_onnx) -> Path:
    root, _ = photo_dirs
    out = tmp_path_factory.mktemp("distill") / "run"
    args = ["--teacher", str(teacher_onnx), "--photos", str(root / "scenes"), str(root / "faces"), "--out", str(out),
            "--steps", "4", "--batch", "4", "--crop", "64", "--sizes", "96,128", "--val-every", "2",
            "--ckpt-every", "2", "--val-count", "2", "--val-size", "96", "--warmup", "2", "--width", "0.5",
            "--perceptual", f"{feature_onnx}:c2", "--holdout", "0.2"]
    assert distill.main(args)["step"] == 4
    assert distill.main(args[:args.index("--steps") + 1] + ["6"] + args[args.index("--steps") + 2:] + ["--resume"])[
        "step"] == 6
    return out


def test_learning_rate_warms_up_then_decays_to_its_floor():
    config = distill.DistillConfig(teachers=[], photos=[], out=Path("run"), steps=1000, lr=1e-3, warmup=100,
                                   min_lr_ratio=0.05)
    rates = [distill.learning_rate(step, config) for step in range(config.steps + 1)]
    assert rates[0] == pytest.approx(1e-5) and max(rates) == pytest.approx(1e-3)
    assert rates[-1] == pytest.approx(5e-5) and all(b <= a + 1e-12 for a, b in zip(rates[99:], rates[100:]))
    later = [distill.learning_rate(step, config, start=400) for step in range(400, config.steps + 1)]
    assert later[0] == pytest.approx(1e-5) and max(later) == pytest.approx(1e-3) and later[-1] == pytest.approx(5e-5)


def test_distillation_logs_validation_and_resumes(distilled):
    history = [json.loads(line) for line in (distilled / "history.jsonl").read_text().splitlines()]
    assert [h["step"] for h in history] == [2, 4, 6]
    assert all(np.isfinite(h["val_psnr"]) and 0 < h["val_ssim"] <= 1 for h in history)
    assert all(h["edit_captured"] <= 1 and h["detail_captured"] <= 1 for h in history)
    assert (distilled / "best.safetensors").exists() and (distilled / "last.optim.safetensors").exists()
    assert len(list((distilled / "targets").glob("*.png"))) > 10  # teacher targets cached once
    assert list((distilled / "samples").glob("*.jpg"))


def test_a_run_continued_from_committed_weights_counts_steps_on_and_keeps_its_own_best(distilled, photo_dirs,
                                                                                      teacher_onnx, tmp_path):
    root, _ = photo_dirs
    out = tmp_path / "continued"
    result = distill.main(["--teacher", str(teacher_onnx), "--photos", str(root / "scenes"), "--out", str(out),
                           "--steps", "8", "--batch", "2", "--crop", "64", "--sizes", "96", "--val-every", "2",
                           "--ckpt-every", "2", "--val-count", "1", "--val-size", "96", "--width", "0.5",
                           "--detail-weight", "1", "--init", str(distilled / "last.safetensors"), "--resume",
                           "--phase-lock", "--freeze-bn"])
    assert result["step"] == 8
    record = json.loads((out / "history.jsonl").read_text())   # the schedule starts where the init stopped: its
    assert record["lr"] == pytest.approx(1e-3 * 2 / 200)       # 2nd warm-up step (200 steps to --lr 1e-3) at step 7
    before, after = load_file(distilled / "last.safetensors"), load_file(out / "last.safetensors")
    stats = [key for key in before if key.endswith(("running_mean", "running_var"))]
    assert stats and all(np.array_equal(before[key], after[key]) for key in stats)       # BatchNorm frozen ...
    assert any(not np.array_equal(before[key], after[key]) for key in before if key.endswith(".weight"))  # ... only
    assert [json.loads(line)["step"] for line in (out / "history.jsonl").read_text().splitlines()] == [8]
    meta = read_meta(out / "best.safetensors")   # its own best, whatever the committed run's best PSNR was
    assert meta["step"] == 8 and meta["phase_lock"] and meta["freeze_bn"] and meta["schedule_start"] == 6
    lineage = "run/last.safetensors at step 6 (L1 + 0.1 × perceptual (features.onnx:c2))"
    assert meta["init"] == lineage
    # resumed later from its own last checkpoint (no --init): still says what it started from
    again = distill.main(["--teacher", str(teacher_onnx), "--photos", str(root / "scenes"), "--out", str(out),
                          "--steps", "10", "--batch", "2", "--crop", "64", "--sizes", "96", "--val-every", "2",
                          "--ckpt-every", "2", "--val-count", "1", "--val-size", "96", "--width", "0.5",
                          "--detail-weight", "1", "--resume"])
    assert again["step"] == 10 and read_meta(out / "last.safetensors")["init"] == lineage


def test_export_matches_pytorch(distilled, tmp_path):
    diff = export.main(["--checkpoint", str(distilled / "last.safetensors"), "--out", str(tmp_path / "m.onnx")])
    assert diff < 1e-4
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert model.opset_import[0].version >= 17
    assert not any(n.op_type in ("BatchNormalization", "Identity") for n in model.graph.node)


def test_quantization_gives_a_smaller_close_int8_model(distilled, photo_dirs, tmp_path):
    root, _ = photo_dirs
    fp32 = tmp_path / "m.onnx"
    export.main(["--checkpoint", str(distilled / "last.safetensors"), "--out", str(fp32)])
    report = quantize.main(["--model", str(fp32), "--calib", str(root / "scenes"), str(root / "faces"),
                            "--out", str(tmp_path / "m.int8.onnx"), "--count", "6", "--size", "96",
                            "--exclude-worst", "1", "--eval-count", "3"])
    assert report.size_mb["int8"] < report.size_mb["fp32"]
    assert report.int8_vs_fp32["psnr_db"] > 30
    assert report.latency_ms_512["int8"] > 0 and report.latency_ms_512["fp32"] > 0     # speed: bench/
    int8 = onnx.load(str(tmp_path / "m.int8.onnx"))
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in int8.graph.node}
    assert not int8.graph.value_info        # shape hints dropped: onnxruntime infers them again
    assert len(report.float_nodes) >= 3 and report.calibration_photos == 6 and report.calibration_size == 96
    written = json.loads((tmp_path / "m.int8.report.json").read_text())   # the command line's copy of the report
    assert written["float_nodes"] == report.float_nodes and written["speedup"] == report.speedup


def activation_scales(path: Path) -> dict[str, float]:
    """Each quantized activation's scale in an INT8 QDQ model (weights carry only DequantizeLinear)."""
    model = onnx.load(str(path))
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    return {n.input[0]: float(values[n.input[1]]) for n in model.graph.node if n.op_type == "QuantizeLinear"}


def test_averaged_calibration_reads_narrower_activation_ranges(distilled, photo_dirs, tmp_path):
    root, _ = photo_dirs
    fp32 = tmp_path / "m.onnx"
    export.main(["--checkpoint", str(distilled / "last.safetensors"), "--out", str(fp32)])
    feeds = quantize.calibration_feeds(sorted((root / "scenes").iterdir())[:6], 96)
    scales = {}
    for method in ("minmax", "minmax-average"):
        quantize.quantize(fp32, tmp_path / f"{method}.onnx", feeds, method, exclude=[])
        scales[method] = activation_scales(tmp_path / f"{method}.onnx")
    extremes, averaged = scales["minmax"], scales["minmax-average"]
    assert extremes.keys() == averaged.keys() and len(extremes) > 5
    assert all(averaged[name] <= extremes[name] * (1 + 1e-6) for name in extremes)
    assert any(averaged[name] < 0.95 * extremes[name] for name in extremes)   # the option took effect


def test_the_lineage_says_how_a_run_cut_its_training_pictures():
    whole = {"crop": 512, "sizes": [512], "batch": 1, "phase_lock": True, "freeze_bn": True}
    assert bundle.training_crops(whole) == (", whole pictures, batch 1, never mirrored, "
                                            "BatchNorm frozen at its running statistics")
    crops = {"crop": 256, "sizes": [384, 512], "batch": 4, "phase_lock": True}
    assert bundle.training_crops(crops) == ", crops phase-locked to the teachers' stride grid"
    assert bundle.training_crops({"crop": 128, "sizes": [256], "batch": 8}) == bundle.training_crops({}) == ""


@pytest.fixture(scope="module")
def face_run(tmp_path_factory, photo_dirs, teacher_onnx) -> Path:
    """A 3-step U-Net face model distilled from a chain of two teachers, every loss term on."""
    root, _ = photo_dirs
    out = tmp_path_factory.mktemp("face") / "face_run"
    distill.distill(distill.DistillConfig(teachers=[teacher_onnx, teacher_onnx], arch="unet", width=0.5,
                                          photos=[root / "faces"], out=out, steps=3, batch=2, crop=64, sizes=(96,),
                                          val_every=3, val_count=2, val_size=96, holdout=0.2,
                                          detail_weight=1.0, fine_detail_weight=0.5, mse_weight=10.0,
                                          adv_weight=0.01))
    return out


def test_unet_student_distils_from_a_teacher_chain_and_exports(face_run, tmp_path, photo_dirs, teacher_onnx):
    root, _ = photo_dirs
    out = face_run
    meta = read_meta(out / "last.safetensors")
    assert meta["arch"] == "unet" and meta["teachers"] == ["teacher", "teacher"] and meta["multiple"] == 16
    assert meta["detail_weight"] == 1.0 and meta["fine_detail_weight"] == 0.5 and meta["mse_weight"] == 10.0
    assert meta["adv_weight"] == 0.01
    assert loss_description(meta) == ("L1 + 1.0 × detail-band L1 + 0.5 × finest-band L1 (σ = 1 px) + 10.0 × squared "
                                      "error + 0.01 × LSGAN")
    fp32 = tmp_path / "face.onnx"
    assert export.main(["--checkpoint", str(out / "last.safetensors"), "--out", str(fp32)]) < 1e-4
    result = evaluate.evaluate(fp32, [teacher_onnx, teacher_onnx], sorted((root / "faces").glob("*.jpg"))[:3],
                               size=128)
    assert result["photos"] == 3 and result["edit_captured"] < 1 and result["psnr_db"] > 0
    cache = tmp_path / "targets"
    from_cli = evaluate.main(["--student", str(fp32), "--teacher", str(teacher_onnx), str(teacher_onnx), "--photos",
                              str(root / "faces"), "--holdout", "1", "--count", "3", "--size", "128",
                              "--cache", str(cache)])
    assert from_cli["photos"] == 3 and len(list(cache.glob("*.png"))) == 3       # the teacher's outputs, cached
    assert evaluate.main(["--student", str(fp32), "--teacher", str(teacher_onnx), str(teacher_onnx), "--photos",
                          str(root / "faces"), "--holdout", "1", "--count", "3", "--size", "128",
                          "--cache", str(cache)]) == from_cli


def test_bundle_writes_a_style_the_runtime_loads(distilled, face_run, photo_dirs, teacher_onnx, tmp_path, portrait):
    from animegan import Registry, Stylizer

    root, _ = photo_dirs
    teachers = tmp_path / "teachers"
    teachers.mkdir()
    shutil.copy(teacher_onnx, teachers / "teacher.onnx")
    (teachers / "teachers.json").write_text(json.dumps({"styles": {"teacher": {
        "file": "teacher.onnx", "license": "test licence", "family": "test", "input_size_policy": {"multiple_of": 4}}}}))
    faces = tmp_path / "aligned"
    align_faces.align_folder([root / "faces"], faces, size=128, min_face=40, holdout=0.3)
    weights = tmp_path / "weights"
    with pytest.raises(SystemExit):   # the command line refuses a face model without its aligned faces
        bundle.main(["--style", "teacher", "--teachers", str(teachers), "--photos", str(root / "scenes"),
                     "--face-run", str(face_run), "--weights", str(weights)])
    common = dict(style="teacher", teachers=teachers, photos=[root / "scenes", root / "faces"], faces=faces,
                  checkpoint="last", weights=weights, eval_count=3)
    first = bundle.bundle(**common, run=distilled, eval_photos=[root / "scenes"])
    assert first["metrics"]["photos_measured"] == ["scenes"] and "face_file" not in first
    assert first["metrics"]["faces"]["photos"] == len(list((faces / "held_out").glob("*.png")))  # the face pass's view
    assert f"at {bundle.CALIBRATION_SIZE}²" in first["lineage"]["quantization"] and first["multiple"] == 4
    entry = bundle.bundle(**common, face_run=face_run)      # adds a face model, keeps the whole-picture one
    assert entry["sha256"] == first["sha256"] and entry["metrics"]["faces"] != first["metrics"]["faces"]
    assert entry["face_teachers"] == ["teacher", "teacher"] and entry["lineage"]["teachers"] == ["teacher"]
    face_quantization = entry["lineage"]["face"]["quantization"]
    assert entry["face_multiple"] == 16 and f"at {bundle.FACE_CALIBRATION_SIZE}²" in face_quantization
    assert not list(weights.glob("*.report.json"))
    assert {"edit_captured", "detail_captured", "int8_vs_fp32_psnr_db"} <= set(entry["metrics"])
    assert {"edit_captured", "detail_captured"} <= set(entry["metrics"]["faces"])
    assert "perceptual" in entry["lineage"]["method"] and "faces/" in entry["lineage"]["face"]["photos"]
    assert (weights / "checkpoints" / "teacher.face.safetensors").exists()
    assert (weights / "cards" / "teacher.md").read_text().count("non-commercial") >= 1
    stylizer = Stylizer(Registry(weights / "manifest.json"), threads=1)
    assert [s.id for s in stylizer.available_styles()] == ["teacher"]
    assert stylizer.face_generator("teacher") is not stylizer.generator("teacher")
    assert stylizer.stylize(portrait, "teacher").size == (512, 512)


def test_bundle_keeps_the_committed_curve_before_a_resumed_runs_steps(distilled, tmp_path):
    curve = tmp_path / "checkpoints" / "style.history.jsonl"
    curve.parent.mkdir()
    curve.write_text("".join(json.dumps({"step": step, "val_psnr": 20.0}) + "\n" for step in (1, 2)))
    bundle.keep_history(distilled, distilled / "last.safetensors", "style", tmp_path)   # the run logged 2, 4, 6
    assert [json.loads(line)["step"] for line in curve.read_text().splitlines()] == [1, 2, 4, 6]
    assert (tmp_path / "checkpoints" / "style.safetensors").exists()


@pytest.fixture(scope="module")
def teachers_folder(tmp_path_factory, teacher_onnx) -> Path:
    """A teachers folder (teachers.json + ONNX) whose one teacher is ``teacher_onnx``, style id 'teacher'."""
    teachers = tmp_path_factory.mktemp("teachers")
    shutil.copy(teacher_onnx, teachers / "teacher.onnx")
    (teachers / "teachers.json").write_text(json.dumps({"styles": {"teacher": {"file": "teacher.onnx"}}}))
    return teachers


def test_contact_sheets_and_styles_table(tiny_weights, teachers_folder, tmp_path):
    from animegan import Registry
    from train import contact_sheet

    shutil.copy(tiny_weights / "tiny.onnx", tmp_path / "tiny.onnx")
    registry = Registry(write_manifest(tmp_path, tmp_path / "tiny.onnx", style_id="teacher",
                                       metrics={"psnr_db": 30.0, "edit_captured": 0.8123, "detail_captured": 0.61,
                                                "faces": {"edit_captured": 0.5, "detail_captured": 0.25},
                                                "photos_measured": ["scenes"]},
                                       lineage={"steps": 7}))
    teachers = teachers_folder
    sheet = contact_sheet.styles_sheet(registry, teachers)
    assert sheet.shape[0] == contact_sheet.CELL and sheet.shape[1] > 5 * contact_sheet.CELL   # one row, six cells
    assert contact_sheet.keep_colors_sheet(registry).shape[0] >= 2 * contact_sheet.CELL      # two rows
    assert contact_sheet.faces_sheet(registry).shape[0] > 2 * 384
    assert contact_sheet.face_crops_sheet(registry, teachers, crop=128).shape[:2] == (128, 3 * 128 + 2 * 6)
    assert contact_sheet.scene_crops_sheet(registry, teachers, crop=128).shape[:2] == (128, 6 * 128 + 5 * 6)
    table = contact_sheet.styles_table(registry)
    assert "| `teacher` | Tiny test style | 50.0% / 25.0% | 81.2% / 61.0% (scenes) | 30.0 dB" in table


def test_fairness_reads_utkface_groups_and_measures_skin_on_the_face(portrait):
    from animegan.faces import FacePipeline
    from train import fairness

    assert fairness.group_of(Path("utk_25_1_3_20170116.jpg")) == "Indian"
    assert fairness.group_of(Path("30_0_1_2017.jpg")) == "Black" and fairness.group_of(Path("celebahq_a.jpg")) is None
    face = FacePipeline().detect(portrait)[0]
    mask = fairness.skin_mask(portrait.shape[:2], face.landmarks)
    left, top, right, bottom = face.box
    assert mask[top:bottom, left:right].mean() > 0.3 and mask.sum() == mask[top - 20:bottom + 20, left - 20:right + 20].sum()
    lighter = np.clip(portrait.astype(int) + 20, 0, 255).astype(np.uint8)
    d_l, d_e = fairness.skin_shift(portrait, lighter, mask)
    assert d_l > 3 and d_e >= d_l and fairness.skin_shift(portrait, portrait, mask) == (0.0, 0.0)


def test_fairness_measures_students_and_teachers_in_our_place(tiny_weights, teachers_folder, tmp_path, portrait):
    from animegan import Registry
    from train import fairness

    shutil.copy(tiny_weights / "tiny.onnx", tmp_path / "tiny.onnx")
    registry = Registry(write_manifest(tmp_path, tmp_path / "tiny.onnx", style_id="teacher"))
    photos = [tmp_path / "30_1_1_2017.jpg", tmp_path / "30_0_0_2017.jpg"]      # the same face labelled Black, White
    for photo in photos:
        Image.fromarray(portrait).save(photo)
    identity = evaluate.FaceIdentity()
    unchanged = fairness.measure(lambda rgb: rgb, photos, identity)
    assert unchanged == {group: {"faces": 1, "identity_kept": 1.0, "skin_dL": 0.0, "skin_dE": 0.0}
                         for group in ("Black", "White")}
    teachers = {"teacher": fairness.measure(fairness.teachers_in_our_place(registry, "teacher", teachers_folder),
                                            photos, identity)}
    assert teachers["teacher"]["Black"]["skin_dE"] > 3         # the warm grading, through the whole face pass
    table = fairness.table({"teacher": unchanged}, teachers)
    assert f"| teacher | Black | 1 | 100% ({teachers['teacher']['Black']['identity_kept']:.0%}) | +0.0 (" in table


def test_push_dry_run_writes_a_complete_hub_folder(tiny_weights, tmp_path, portrait_file):
    from train.card import hub_files

    manifest = write_manifest(tmp_path, tiny_weights / "tiny.onnx",
                              lineage={"teacher": "teacher.onnx", "steps": 6}, metrics={"psnr_db": 30.1})
    (tmp_path / "tiny.onnx").write_bytes((tiny_weights / "tiny.onnx").read_bytes())
    checkpoint = tmp_path / "checkpoints" / "tiny.safetensors"
    save_checkpoint(checkpoint, {"generator": build_generator("fast", 0.25)}, {}, {"arch": "fast", "width": 0.25})
    files = push.main(["--folder", str(tmp_path / "hub"), "--repo-id", "someone/animegan-tiny", "--manifest",
                       str(manifest), "--photos", str(portrait_file), "--dry-run"])
    assert {f.name for f in files} == set(hub_files("tiny"))
    card = (tmp_path / "hub" / "README.md").read_text()
    assert card.startswith("---\nlicense: other") and "non-commercial" in card.lower() and "30.1" in card
    assert all(name in card for name in hub_files("tiny"))
    assert read_pixels(tmp_path / "hub" / "samples.jpg").shape[:2] == (384, 384 + 6 + 384)    # photo | gap | stylized
    assert export.parity(export.load_generator(checkpoint), tmp_path / "hub" / "tiny.fp32.onnx") < 1e-4


def test_the_card_says_which_inputs_the_onnx_takes():
    from train.card import render_card

    entry = {"id": "s", "file": "s.int8.onnx", "multiple": 4, "lineage": {"arch": "fast"}}
    plain = render_card(entry)
    assert "`s.int8.onnx` takes `input`" in plain and "`picture`" not in plain
    told = render_card({**entry, "lineage": {"arch": "fast_stats"}})
    assert "it also takes `picture`, the whole picture squeezed to 128²" in told
