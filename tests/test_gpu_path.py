"""The GPU path's switches, proven on the CPU: which device and precision a setting gives, what runs int8 or
compiled where, the fallback to the CPU when a GPU cannot start the model, the torch build choice; and a smoke
test that runs only where a GPU exists (``@pytest.mark.cuda``). Device and dtype correctness of the model code
itself: test_device_audit.py and test_autocast_emulation.py."""

from __future__ import annotations

import logging
import subprocess
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from indextts.config import Settings
from indextts.errors import ConfigError, InputError
from indextts.model import fusion
from indextts.model.int8 import runs_int8
from indextts.model.precision import decoder_dtype

ROOT = Path(__file__).resolve().parent.parent


def _gpu_present(monkeypatch, present: bool = True, bf16: bool = True) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: present)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)


@pytest.mark.parametrize("present", [True, False])
def test_pick_device_follows_what_pytorch_sees(monkeypatch, present):
    from indextts.engine import pick_device

    _gpu_present(monkeypatch, present)
    assert pick_device("auto") == ("cuda" if present else "cpu")
    assert pick_device("cpu") == "cpu"
    if present:
        assert pick_device("cuda") == "cuda"
    else:
        with pytest.raises(InputError, match="no CUDA GPU"):
            pick_device("cuda")


def test_reduced_precision_is_for_the_gpu_only(monkeypatch):
    _gpu_present(monkeypatch, bf16=True)
    assert decoder_dtype("fp16", "cuda") is torch.float16
    assert decoder_dtype("bf16", torch.device("cuda:0")) is torch.bfloat16
    assert decoder_dtype("fp32", "cuda") is None
    for precision in ("fp32", "fp16", "bf16"):
        assert decoder_dtype(precision, "cpu") is None  # the CPU runs float32 with int8 convolutions
    _gpu_present(monkeypatch, bf16=False)
    with pytest.raises(ValueError, match="bf16 needs a GPU with bfloat16 support"):
        decoder_dtype("bf16", "cuda")
    with pytest.raises(ValueError, match="unknown precision"):
        decoder_dtype("int4", "cuda")


def test_precision_setting_and_the_older_fp16_flag():
    assert Settings.load(environ={}).engine.decoder_precision == "fp32"
    assert Settings.load(environ={}, overrides={"engine": {"fp16": True}}).engine.decoder_precision == "fp16"
    from_env = Settings.load(environ={"INDEXTTS_ENGINE__PRECISION": "bf16"})
    assert from_env.engine.decoder_precision == "bf16"
    with pytest.raises(ConfigError, match="precision"):
        Settings.load(environ={"INDEXTTS_ENGINE__PRECISION": "half"})


def test_app_flags_reach_the_precision_setting():
    import app

    overrides = app.overrides_from(app.parse_args(["--device", "cuda", "--precision", "bf16"]))
    assert overrides["engine"] == {"device": "cuda", "precision": "bf16"}
    assert app.overrides_from(app.parse_args(["--fp16"]))["engine"] == {"fp16": True}


def _tensor_like(device: str, dtype: torch.dtype = torch.float32) -> types.SimpleNamespace:
    """What the switches read of a tensor (its device and dtype), for a device this machine lacks."""
    return types.SimpleNamespace(device=torch.device(device), dtype=dtype)


def test_int8_runs_only_for_cpu_float32_inference():
    with torch.no_grad():
        assert runs_int8(_tensor_like("cpu"))
        assert not runs_int8(_tensor_like("cuda"))  # CUDA: the float (or fp16/bf16) convolution
        assert not runs_int8(_tensor_like("cpu", torch.float16))
    assert not runs_int8(_tensor_like("cpu"))  # autograd on: the voice fitter needs exact float gradients


def test_compiled_kernels_for_cpu_and_cuda_inference_only(monkeypatch):
    monkeypatch.setitem(fusion._state, "enabled", True)
    with torch.no_grad():
        assert fusion.compiles(_tensor_like("cpu")) and fusion.compiles(_tensor_like("cuda"))
        assert not fusion.compiles(_tensor_like("meta"))
    assert not fusion.compiles(_tensor_like("cuda"))  # autograd on (the voice fitter): eager
    monkeypatch.setitem(fusion._state, "enabled", False)
    with torch.no_grad():
        assert not fusion.compiles(_tensor_like("cpu"))


@pytest.mark.slow
def test_auto_falls_back_to_the_cpu_when_the_gpu_cannot_start_the_model(monkeypatch, caplog, settings):
    """A machine where PyTorch reports a GPU that then fails (here: a CPU-only torch build, which raises on
    the first .to("cuda")): device auto starts on the CPU and says why; device cuda fails the start."""
    from indextts.engine import Engine

    _gpu_present(monkeypatch)
    auto = Settings.load(environ={}, overrides={"engine": {"device": "auto", "threads": 2, "compile": False}})
    with caplog.at_level(logging.WARNING, logger="indextts.engine"):
        engine = Engine.load(auto, warm_up=False)
    assert engine.device == "cpu" and engine.precision == "fp32"
    assert "could not start on the GPU" in caplog.text and "engine.device to cpu" in caplog.text
    result = engine.synthesize("Still speaking.")
    assert result.duration_s > 0.5 and np.isfinite(result.audio).all()
    forced = Settings.load(environ={}, overrides={"engine": {"device": "cuda", "threads": 2}})
    with pytest.raises(Exception, match="CUDA"):
        Engine.load(forced, warm_up=False)


def test_a_torch_build_that_does_not_exist_is_refused(tmp_path):
    script = (f"cd {ROOT} && source scripts/bootstrap.sh && VENV_DIR={tmp_path}/venv "
              "TORCH_VARIANT=rocm9 bootstrap_venv requirements.txt")
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/local/bin:/usr/bin:/bin", "TORCH_VARIANT": "rocm9"})
    assert done.returncode == 1
    assert "TORCH_VARIANT=rocm9 is not a torch build" in done.stderr and "cu126" in done.stderr
    assert not (tmp_path / "venv").exists()


# ---------------------------------------------------------------- on a GPU only
@pytest.mark.cuda
@pytest.mark.slow
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_cuda_smoke(precision, tmp_path):
    """Warm-up (both languages, the cloning statistics), synthesis, streaming and a 2-step clone on the GPU."""
    from indextts.engine import Engine

    overrides = {"engine": {"device": "cuda", "precision": precision},
                 "paths": {"voices": str(tmp_path / "voices"), "cache_hub": str(ROOT / "cache_hub")}}
    engine = Engine.load(Settings.load(environ={}, overrides=overrides), warm_up=True)
    assert engine.device.startswith("cuda") and engine.precision == precision
    assert next(engine.model.parameters()).is_cuda
    result = engine.synthesize("The GPU path speaks. 它也会说中文。")
    assert result.duration_s > 1.0 and np.isfinite(result.audio).all() and np.abs(result.audio).max() > 0.05
    assert all(seg.prosody.f0.device.type == "cpu" for seg in result.segments)  # results hold no GPU memory
    pieces = list(engine.stream("First sentence here. And a second one."))
    assert len(pieces) == 2 and all(np.isfinite(p.audio).all() for p in pieces)
    reference = engine.synthesize("A short clip to clone from, read by a stock voice.", voice="jf_alpha")
    cloned = engine.studio.clone((24000, reference.audio), steps=2)
    speech = engine.synthesize("Speaking with the cloned voice.", voice=cloned["voice_value"])
    assert speech.duration_s > 0.5 and np.isfinite(speech.audio).all()
