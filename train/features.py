"""Frozen feature networks for content / perceptual / Gram losses.

* ``OnnxFeatures`` runs an ONNX CNN classifier (e.g. ``../shared/teachers/mobilenet_v2_imagenet.onnx``) as a
  differentiable torch module. Only the ops such classifiers use are supported (Conv, Clip, Relu, Add, Mul, Sub,
  Identity); the weights are read from the file at run time and never stored by us.
* ``VGG19Features`` is VGG19 up to ``conv4_4`` (the AnimeGANv2 choice); its weights come from a local state-dict file,
  e.g. torchvision's ``vgg19`` checkpoint (torchvision itself is not needed).

Both take images in [-1, 1] (NCHW RGB) and return one feature map.
"""
from __future__ import annotations

from pathlib import Path

import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn


class OnnxFeatures(nn.Module):
    """Interpret the part of an ONNX graph that leads to ``output`` (a feature tap) with torch ops."""

    def __init__(self, path: str | Path, output: str = "feat_s8"):
        super().__init__()
        graph = onnx.load(str(path)).graph
        consts = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
        self.input_name = graph.input[0].name
        self.nodes = self._needed_nodes(graph, output)
        self.output = output
        names = sorted({i for n in self.nodes for i in n["inputs"] if i in consts})
        self.const_index = {name: k for k, name in enumerate(names)}
        for k, name in enumerate(names):
            self.register_buffer(f"c{k}", consts[name].float() if consts[name].is_floating_point() else consts[name])
        self.requires_grad_(False)
        self.eval()

    @staticmethod
    def _needed_nodes(graph: onnx.GraphProto, output: str) -> list[dict]:
        producers = {o: n for n in graph.node for o in n.output}
        if output not in producers:
            raise KeyError(f"{output!r} is not produced by the ONNX graph")
        needed, stack = set(), [output]
        while stack:
            name = stack.pop()
            node = producers.get(name)
            if node is not None and id(node) not in needed:
                needed.add(id(node))
                stack.extend(node.input)
        nodes = []
        for n in graph.node:
            if id(n) in needed:
                attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
                nodes.append({"op": n.op_type, "inputs": list(n.input), "outputs": list(n.output), "attrs": attrs})
        return nodes

    def _const(self, name: str) -> torch.Tensor:
        return getattr(self, f"c{self.const_index[name]}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {self.input_name: x}
        get = lambda name: values[name] if name in values else self._const(name)  # noqa: E731
        for node in self.nodes:
            op, ins, attrs = node["op"], node["inputs"], node["attrs"]
            if op == "Conv":
                pads = attrs.get("pads", [0, 0, 0, 0])
                inp = get(ins[0])
                if pads[0] != pads[2] or pads[1] != pads[3]:
                    inp = F.pad(inp, (pads[1], pads[3], pads[0], pads[2]))
                    padding = 0
                else:
                    padding = (pads[0], pads[1])
                out = F.conv2d(inp, get(ins[1]), get(ins[2]) if len(ins) > 2 and ins[2] else None,
                               stride=attrs.get("strides", [1, 1]), padding=padding,
                               dilation=attrs.get("dilations", [1, 1]), groups=attrs.get("group", 1))
            elif op == "Clip":
                lo = get(ins[1]) if len(ins) > 1 and ins[1] else None
                hi = get(ins[2]) if len(ins) > 2 and ins[2] else None
                out = torch.clamp(get(ins[0]), min=lo, max=hi)
            elif op == "Relu":
                out = F.relu(get(ins[0]))
            elif op in ("Add", "Mul", "Sub"):
                a, b = get(ins[0]), get(ins[1])
                out = a + b if op == "Add" else a * b if op == "Mul" else a - b
            elif op == "Identity":
                out = get(ins[0])
            else:
                raise NotImplementedError(f"ONNX op {op} is not supported by OnnxFeatures")
            values[node["outputs"][0]] = out
        return values[self.output]


VGG19_CONV4_4 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512]


class VGG19Features(nn.Module):
    """VGG19 ``features`` up to relu4_4 ... conv4_4 output (pre-ReLU), with ImageNet normalisation built in."""

    def __init__(self, state_dict_path: str | Path):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for v in VGG19_CONV4_4:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=True)]
                cin = int(v)
        self.features = nn.Sequential(*layers[:-1])  # conv4_4 before its ReLU
        state = torch.load(str(state_dict_path), map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if k.startswith("features.")}
        self.load_state_dict({k: v for k, v in state.items() if k in self.state_dict()})
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(((x + 1) / 2 - self.mean) / self.std)


def load_feature_network(spec: str) -> nn.Module:
    """``model.onnx[:tap]`` → OnnxFeatures (tap defaults to ``feat_s8``); anything else → a VGG19 state dict."""
    path, sep, tap = spec.partition(".onnx:")
    if sep:
        return OnnxFeatures(path + ".onnx", tap)
    if spec.endswith(".onnx"):
        return OnnxFeatures(spec)
    return VGG19Features(spec)
