"""Checkpoints as safetensors: ``<name>.safetensors`` (model weights + JSON metadata) and
``<name>.optim.safetensors`` (optimizer state, for an exact ``--resume``)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open


def save_checkpoint(path: Path, models: dict[str, torch.nn.Module], optimizers: dict[str, torch.optim.Optimizer],
                    meta: dict[str, Any]) -> None:
    """Write weights (prefixed by model name) and optimizer state atomically next to each other."""
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = {f"{name}.{k}": v.detach().contiguous().cpu()
               for name, model in models.items() for k, v in model.state_dict().items()}
    _atomic_save(weights, path, {"meta": json.dumps(meta)})
    if optimizers:
        tensors: dict[str, torch.Tensor] = {}
        structure: dict[str, Any] = {}
        for name, opt in optimizers.items():
            state = opt.state_dict()
            structure[name] = {"param_groups": state["param_groups"], "state_keys": {}}
            for pid, pstate in state["state"].items():
                keys = []
                for k, v in pstate.items():
                    tensors[f"{name}.{pid}.{k}"] = torch.as_tensor(v).contiguous().cpu()
                    keys.append(k)
                structure[name]["state_keys"][str(pid)] = keys
        _atomic_save(tensors, optim_path(path), {"structure": json.dumps(structure)})


def _atomic_save(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str]) -> None:
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)


def optim_path(path: Path) -> Path:
    return path.with_name(path.name.replace(".safetensors", ".optim.safetensors"))


def read_meta(path: Path) -> dict[str, Any]:
    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("meta", "{}"))


def load_weights(path: Path, model: torch.nn.Module, name: str = "generator", optional: tuple[str, ...] = (),
                 grow: bool = False) -> None:
    """Load one model's weights (any float dtype, e.g. fp16 published weights) into ``model``. For a model grown
    from a smaller one: the submodules named in ``optional`` keep their initial weights when the file lacks them,
    and with ``grow`` a layer the file holds narrower is widened by ``widened``."""
    prefix = f"{name}."
    state = {k[len(prefix):]: v for k, v in load_file(str(path)).items() if k.startswith(prefix)}
    if not state:
        raise KeyError(f"{path} holds no weights for {name!r}")
    reference = model.state_dict()
    kept = {k: v for k, v in reference.items() if k not in state and k.split(".")[0] in optional}
    for key, saved in state.items():
        if key not in reference:
            continue
        saved = saved.to(reference[key].dtype)
        if grow and saved.shape != reference[key].shape:
            saved = widened(saved, reference[key])
        state[key] = saved
    model.load_state_dict({**kept, **state})


def widened(saved: torch.Tensor, fresh: torch.Tensor) -> torch.Tensor:
    """``saved`` in the leading slice of ``fresh`` (the same layer with more channels): the new channels keep their
    fresh values, except that weights from new input channels into old output channels are zero, so the widened
    model computes exactly what the saved one did until training moves them."""
    if saved.dim() != fresh.dim() or any(s > f for s, f in zip(saved.shape, fresh.shape)):
        raise ValueError(f"cannot widen a {tuple(saved.shape)} tensor into {tuple(fresh.shape)}")
    out = fresh.clone()
    out[tuple(slice(0, n) for n in saved.shape)] = saved
    if out.dim() >= 2:
        out[:saved.shape[0], saved.shape[1]:] = 0
    return out


def load_checkpoint(path: Path, models: dict[str, torch.nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer]) -> dict[str, Any]:
    """Restore models and (when saved) optimizers; returns the metadata (step, config, ...)."""
    for name, model in models.items():
        load_weights(path, model, name)
    opath = optim_path(path)
    if optimizers and opath.exists():
        with safe_open(str(opath), framework="pt") as f:
            structure = json.loads(f.metadata()["structure"])
            for name, opt in optimizers.items():
                if name not in structure:
                    continue
                state = {int(pid): {k: f.get_tensor(f"{name}.{pid}.{k}") for k in keys}
                         for pid, keys in structure[name]["state_keys"].items()}
                opt.load_state_dict({"state": state, "param_groups": structure[name]["param_groups"]})
    return read_meta(path)


def export_half(path: Path, out: Path, name: str = "generator") -> None:
    """Write just one model's weights as fp16 (for committing / publishing), keeping the metadata."""
    prefix = f"{name}."
    tensors = {k: (v.half() if v.is_floating_point() else v) for k, v in load_file(str(path)).items()
               if k.startswith(prefix)}
    out.parent.mkdir(parents=True, exist_ok=True)
    _atomic_save(tensors, out, {"meta": json.dumps(read_meta(path))})


def loss_description(meta: dict) -> str:
    """The training loss a checkpoint's metadata records, e.g. ``L1 + 1.0 × detail-band L1``."""
    terms = ["L1"]
    if meta.get("perceptual"):
        terms.append(f"{meta['perceptual_weight']} × perceptual ({meta['perceptual']})")
    if meta.get("detail_weight"):
        terms.append(f"{meta['detail_weight']} × detail-band L1")
    if meta.get("fine_detail_weight"):
        terms.append(f"{meta['fine_detail_weight']} × finest-band L1 (σ = 1 px)")
    if meta.get("mse_weight"):
        terms.append(f"{meta['mse_weight']} × squared error")
    if meta.get("adv_weight"):
        terms.append(f"{meta['adv_weight']} × LSGAN")
    return " + ".join(terms)
