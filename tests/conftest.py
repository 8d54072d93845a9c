"""Shared fixtures: a tiny random-weight generator exported to ONNX on the fly (never a committed fake style),
a manifest that registers it, and real public-domain photos shipped by scikit-image."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

TINY_STYLE = "tiny"


def free_port() -> int:
    """A free TCP port on localhost."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_pixels(path: Path) -> np.ndarray:
    """The RGB pixels of an image file, the file closed again (no ResourceWarning)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def save_generator_onnx(path: Path, nodes: list, initializers: list = (), extra_inputs: list = ()) -> Path:
    """A hand-written ONNX graph with the generator interface ('input' → 'output', NCHW float32; ``extra_inputs``
    are further ``ValueInfoProto`` inputs) saved to ``path``."""
    from onnx import TensorProto, helper, save

    image = ["N", 3, "H", "W"]
    graph = helper.make_graph(nodes, path.stem,
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, image), *extra_inputs],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, image)], list(initializers))
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10), str(path))
    return path


def build_tiny_generator_onnx(path: Path, seed: int = 0, arch: str = "fast") -> Path:
    """A small FastGenerator (or UNetGenerator with ``arch="unet"``) with random weights and a non-zero output
    layer, so it really changes pixels."""
    import torch

    from train.export import export_onnx
    from train.model import FastGenerator, UNetGenerator, fold_batchnorm

    torch.manual_seed(seed)
    model = UNetGenerator(width=0.25, blocks=1) if arch == "unet" else FastGenerator(width=0.25, blocks=1)
    torch.nn.init.normal_(model.out_layer.weight, std=0.2)
    return export_onnx(fold_batchnorm(model), path)


def write_manifest(folder: Path, onnx_file: Path, style_id: str = TINY_STYLE, **extra) -> Path:
    from animegan.registry import sha256_of

    entry = {"id": style_id, "name": "Tiny test style", "file": onnx_file.name, "sha256": sha256_of(onnx_file),
             "multiple": 4, "working_size": 512, "license": "test only", **extra}
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"styles": [entry]}))
    return manifest


@pytest.fixture(scope="session", autouse=True)
def app_cache(tmp_path_factory) -> Path:
    """The app's preview cache (ANIMEGAN_CACHE) in a temporary folder, never the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("animegan-cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("ANIMEGAN_CACHE", str(folder))
    yield folder
    mp.undo()


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory) -> Path:
    """Folder holding tiny.onnx + manifest.json."""
    folder = tmp_path_factory.mktemp("weights")
    onnx_file = build_tiny_generator_onnx(folder / "tiny.onnx")
    write_manifest(folder, onnx_file)
    return folder


@pytest.fixture(scope="session")
def registry(tiny_weights):
    from animegan.registry import Registry

    return Registry(tiny_weights / "manifest.json")


@pytest.fixture(scope="session")
def stylizer(registry):
    from animegan.stylizer import Stylizer

    return Stylizer(registry=registry, threads=1)


@pytest.fixture(scope="session")
def portrait() -> np.ndarray:
    """Real portrait (Eileen Collins, NASA, public domain), 512×512 RGB."""
    from skimage import data

    return data.astronaut()


@pytest.fixture(scope="session")
def scene() -> np.ndarray:
    """Real photo without faces (coffee cup, CC0), 400×600 RGB."""
    from skimage import data

    return data.coffee()


@pytest.fixture()
def portrait_file(tmp_path, portrait) -> Path:
    path = tmp_path / "portrait.jpg"
    Image.fromarray(portrait).save(path, quality=92)
    return path
