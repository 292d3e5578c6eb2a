"""Device cleanliness without a GPU: the engine's work, audited by ``device_audit.DeviceAudit``.

The self-tests (no model) plant each kind of device bug in a few lines and check that the audit
reports it, and that correct code passes. The engine tests (slow) run every path a request can take
(synthesis in both languages, streaming, the four emotion modes and random variation, cloning,
blending) under the audit and expect no violation: each one is an op that raises on CUDA.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from device_audit import DeviceAudit

HERE = "tests/test_device_audit.py"


def only(audit: DeviceAudit, op: str, what: str = "placed+unplaced", where: str = HERE) -> None:
    """The audit found exactly one violation: ``op`` doing ``what``, reported at a line of ``where``."""
    assert len(audit.violations) == 1, audit.report()
    pattern = rf"{re.escape(op)}: {re.escape(what)} at {re.escape(where)}:\d+ \(\w+\)"
    assert re.fullmatch(pattern, audit.violations[0]), audit.violations[0]


@pytest.fixture()
def linear() -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(4, 3)


# ---------------------------------------------------------------- self-tests (no model)
def test_an_input_made_without_the_device_is_reported(linear):
    with DeviceAudit(linear) as audit:
        linear(torch.zeros(1, 4))
    only(audit, "torch.nn.functional.linear")
    assert audit.violations[0].endswith("(test_an_input_made_without_the_device_is_reported)")


def test_inputs_made_on_the_model_device_pass(linear):
    with DeviceAudit(linear) as audit:
        device = linear.weight.device
        linear(torch.zeros(1, 4, device=device))
        linear(torch.zeros(1, 4).to(device))
        linear(torch.zeros(1, 4).to(device=device))
        linear(torch.zeros(1, 4).to(linear.weight))  # x.to(other): other's device
        x = torch.ones(1, 4, device=device)
        linear(torch.zeros_like(x) + x.new_ones(1, 4) + x.new_tensor([1.0, 2.0, 3.0, 4.0]))
        linear(torch.cat([x, x]).sum(0, keepdim=True).to(torch.float64).float())  # a dtype change stays
    assert audit.violations == [], audit.report()


def test_numpy_of_a_placed_tensor_is_reported_and_host_copies_are_not(linear):
    x = torch.zeros(1, 4)
    with DeviceAudit(linear) as audit:
        out = linear(x.to(linear.weight.device)).detach()
        out.cpu().numpy()
        out.to("cpu").numpy()
        out.tolist(), out[0, 0].item(), float(out[0, 0]), int(out[0, 0] > 0)
        x.numpy()  # never placed
    assert audit.violations == [], audit.report()
    with DeviceAudit(linear) as audit:
        linear(x.to(linear.weight.device)).detach().numpy()
    only(audit, "torch.Tensor.numpy", "numpy() of a placed tensor")
    with DeviceAudit(linear) as audit:
        np.asarray(linear(x.to(linear.weight.device)).detach())
    only(audit, "torch.Tensor.__array__", "numpy() of a placed tensor")


def test_moving_a_tensor_does_not_retag_the_callers_tensor(linear):
    with DeviceAudit(linear) as audit:
        x = torch.zeros(1, 4)
        y = x.to(linear.weight.device)
        assert audit.is_placed(y) and not audit.is_placed(x)
        back = y.cpu()
        assert audit.is_placed(y) and not audit.is_placed(back)
        linear(x)  # still on the host
    only(audit, "torch.nn.functional.linear")
    assert torch.equal(y, x) and torch.equal(back, x)  # copies (torch.equal across devices raises on CUDA)


def test_devices_are_judged_by_where_they_come_from(linear):
    saved = io.BytesIO()
    torch.save({"w": torch.ones(2)}, saved)
    with DeviceAudit(linear) as audit:
        saved.seek(0)
        assert not audit.is_placed(torch.load(saved, map_location="cpu")["w"])  # loaded on the host
        placed = linear.weight
        host = torch.zeros(3)
        assert audit.is_placed(torch.zeros(3, device=placed.device))
        assert not audit.is_placed(torch.zeros(3, device=host.device))
        assert not audit.is_placed(torch.zeros(3, device="cpu"))
        assert not audit.is_placed(placed.to("cpu"))
        assert audit.is_placed(host.to(placed.device)) and not audit.is_placed(host.to(host.device))
        assert audit.is_placed(host.to(torch.device(placed.device)))  # a device object from the caller
        assert not audit.is_placed(host.to(str(placed.device)))  # a string: "cpu" is the host
        assert audit.is_placed(host.type_as(placed)) and not audit.is_placed(placed.type_as(host))
    assert audit.violations == [], audit.report()


def test_a_module_moved_during_the_audit_is_placed(linear):
    original_to = nn.Module.to
    with DeviceAudit(linear) as audit:
        head = nn.Linear(3, 2)  # made during the audit: on the host
        head(linear(torch.zeros(1, 4, device=linear.weight.device)))
    only(audit, "torch.nn.functional.linear")
    with DeviceAudit(linear) as audit:
        head = nn.Linear(3, 2).to(linear.weight.device)
        head(linear(torch.zeros(1, 4, device=linear.weight.device)))
        head.cpu()
        assert not audit.is_placed(head.weight)
    assert audit.violations == [], audit.report()
    assert nn.Module.to is original_to  # the patch is gone after the audit


def test_host_scalars_mix_with_placed_tensors_but_not_the_other_way(linear):
    with DeviceAudit(linear) as audit:
        out = linear(torch.zeros(1, 4, device=linear.weight.device))
        out * torch.tensor(2.0)  # a CPU 0-dim tensor is a number to a CUDA op
        torch.where(out > 0, out, torch.tensor(0.0))
        out.sum() + torch.tensor(1.0)
    assert audit.violations == [], audit.report()
    with DeviceAudit(linear) as audit:
        out = linear(torch.zeros(1, 4, device=linear.weight.device))
        out.sum() * torch.ones(3)  # a GPU scalar beside a CPU vector raises on CUDA
    only(audit, "torch.Tensor.mul")
    with DeviceAudit(linear) as audit:
        out = linear(torch.zeros(1, 4, device=linear.weight.device))
        out * torch.ones(1)  # one element, but not 0-dim
    only(audit, "torch.Tensor.mul")


def test_tensor_lists_are_searched(linear):
    with DeviceAudit(linear) as audit:
        out = linear(torch.zeros(1, 4, device=linear.weight.device))
        torch.cat([out, torch.zeros(1, 3)])
    only(audit, "torch.cat")
    with DeviceAudit(linear) as audit:
        out = linear(torch.zeros(1, 4, device=linear.weight.device))
        torch.stack([out.sum(), torch.tensor(1.0)])  # inside a list, a 0-dim tensor is an operand
    only(audit, "torch.stack")


def test_indexing_takes_host_indices_but_not_host_values(linear):
    with DeviceAudit(linear) as audit:
        out = linear(torch.zeros(2, 4, device=linear.weight.device))
        out[torch.tensor([1, 0])], out[torch.tensor([True, False])], out[torch.tensor(1)]
        out[torch.tensor([0]), 1:] = 0.5
        out[0] = torch.tensor(1.0)
        out.index_put_((torch.tensor([1]),), out[0, :1].detach().clone())
    assert audit.violations == [], audit.report()
    with DeviceAudit(linear) as audit:
        out = linear(torch.zeros(2, 4, device=linear.weight.device)).detach()
        out[0:1] = torch.zeros(1, 3)
    only(audit, "torch.Tensor.__setitem__")
    with DeviceAudit(linear) as audit:
        idx = linear(torch.zeros(2, 4, device=linear.weight.device)).argmax(1)
        torch.arange(6).view(3, 2)[idx]  # GPU indices into a CPU tensor raise
    only(audit, "torch.Tensor.__getitem__")


def test_copies_across_devices_are_reported(linear):
    """copy_ across devices works on CUDA but is an implicit, synchronous transfer: the product states
    its transfers with .to(device)."""
    with DeviceAudit(linear) as audit:
        out = linear(torch.zeros(1, 4, device=linear.weight.device)).detach()
        out.copy_(torch.ones(1, 3))
    only(audit, "torch.Tensor.copy_")


def test_gradients_through_the_model_pass_and_numerics_do_not_change(linear):
    def fit(device: torch.device | None) -> torch.Tensor:
        z = torch.zeros(1, 4, device=device, requires_grad=True)
        opt = torch.optim.Adam([z], lr=0.1)
        for _ in range(3):
            loss = (linear(z) - 1).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                z.clamp_(-0.5, 0.5)
        return z.detach().clone()

    plain = fit(linear.weight.device)
    with DeviceAudit(linear) as audit:
        audited = fit(linear.weight.device)
    assert audit.violations == [], audit.report()
    assert torch.equal(plain, audited)
    with DeviceAudit(linear) as audit:
        fit(None)  # z on the host
    only(audit, "torch.nn.functional.linear")


def test_violations_are_deduplicated_and_located_in_the_product():
    from indextts.model.prosody import expand_to_frames

    x = nn.Parameter(torch.zeros(1, 2, 3), requires_grad=False)
    holder = nn.Module()
    holder.x = x
    with DeviceAudit(holder) as audit:
        for _ in range(3):
            expand_to_frames(x, torch.tensor([1, 2, 3]))  # frames made without the device
    only(audit, "torch.repeat_interleave", where="indextts/model/prosody.py")
    assert audit.violations[0].endswith("(expand_to_frames)")
    assert "expand_to_frames" in audit.report()


# ---------------------------------------------------------------- the engine (model)
EN = "The weather is lovely today, and we are going to the park."
ZH = "今天天气很好，我们一起去公园散步吧。"


@pytest.fixture(scope="module")
def gpu_engine(tmp_path_factory):
    """An engine loaded as on a GPU: float convolutions (int8 kernels run only on the CPU) and eager ops
    (compiled kernels are CPU-only, and a session engine may have switched them on): the audit must
    walk the code a GPU runs. Its own voice library, in a temporary folder."""
    from indextts.config import Settings
    from indextts.engine import Engine
    from indextts.model import fusion

    settings = Settings.load(environ={}, overrides={
        "engine": {"device": "cpu", "threads": 2, "int8": False, "compile": False},
        "paths": {"voices": str(tmp_path_factory.mktemp("audit_voices"))}})
    saved = dict(fusion._state)
    fusion._state["enabled"] = False
    try:
        yield Engine.load(settings, warm_up=False)
    finally:
        fusion._state.update(saved)


def assert_clean(audit: DeviceAudit) -> None:
    assert audit.violations == [], audit.report()


@pytest.mark.slow
@pytest.mark.parametrize("text, lang", [(EN, "en"), (ZH, "zh")])
def test_synthesis_is_device_clean(gpu_engine, text, lang):
    with DeviceAudit(gpu_engine.model) as audit:
        result = gpu_engine.synthesize(text, voice="jm_kumo", lang=lang)
    assert result.duration_s > 1.0
    assert_clean(audit)


@pytest.mark.slow
def test_the_audit_does_not_change_the_audio(gpu_engine):
    from indextts.emotion import spec_from_request

    spec = spec_from_request(vector={"happy": 0.6}, random=True, seed=3)
    plain = [gpu_engine.synthesize(EN, voice="jf_alpha", lang="en", emotion=e) for e in (None, spec)]
    with DeviceAudit(gpu_engine.model):
        audited = [gpu_engine.synthesize(EN, voice="jf_alpha", lang="en", emotion=e) for e in (None, spec)]
    for a, b in zip(plain, audited):
        assert np.array_equal(a.audio, b.audio)


@pytest.mark.slow
def test_streaming_is_device_clean(gpu_engine):
    text = "First a short clause, then a longer sentence follows it. And a third one ends the stream."
    with DeviceAudit(gpu_engine.model) as audit:
        segments = gpu_engine.stream(text, voice="jm_kumo", lang="en", max_tokens=48, first_max_tokens=16)
        pieces = list(gpu_engine.stream_pieces(segments))
    assert len(pieces) >= 2
    assert_clean(audit)


def _reference_wav(engine) -> bytes:
    sad = engine.synthesize(EN, voice="jf_alpha", lang="en")
    buf = io.BytesIO()
    sf.write(buf, sad.audio, 24000, format="WAV")
    return buf.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["vector", "text", "reference", "vector+random", "random"])
def test_emotion_is_device_clean(gpu_engine, mode):
    from indextts.emotion import spec_from_request

    make = {
        "vector": lambda: spec_from_request(vector={"angry": 0.8, "sad": 0.2}, weight=0.9),
        "text": lambda: spec_from_request(text="very happy but a little scared"),
        "reference": lambda: spec_from_request(reference=_reference_wav(gpu_engine)),
        "vector+random": lambda: spec_from_request(vector={"happy": 0.5}, random=True, seed=11),
        "random": lambda: spec_from_request(random=True, seed=4),
    }
    spec = make[mode]()  # measured before the audit: a reference clip is analysed in numpy
    with DeviceAudit(gpu_engine.model) as audit:  # the emotion edit is language-blind: English suffices
        result = gpu_engine.synthesize(EN, voice="jm_kumo", lang="en", emotion=spec)
    assert result.duration_s > 1.0
    assert_clean(audit)


@pytest.mark.slow
def test_cloning_is_device_clean(gpu_engine, monkeypatch):
    """A 2-step fit, everything built inside the audit as in a fresh process: the fitter, the speaker
    encoder, and the stock voices' statistics (measured, not read from disk, so the audit walks the same
    code whatever the cache holds; nothing is written to the shared cache). Two base voices, not the
    engine's 25: the code path is the same, the audit's per-op cost is not."""
    from indextts.cloning import fit, speaker_encoder

    monkeypatch.setattr(gpu_engine.studio, "_fitter", None)
    monkeypatch.setattr(gpu_engine.voices, "_packs", {name: pack for name, pack in gpu_engine.voices.stock_packs.items()
                                                      if name in ("jf_alpha", "jm_kumo")})
    shared = getattr(speaker_encoder, "_shared", None)  # one encoder per process (or per device)
    monkeypatch.setattr(speaker_encoder, "_shared", {} if isinstance(shared, dict) else None, raising=False)
    monkeypatch.setattr(fit.VoiceFitter, "_read_stats", lambda self: {})
    monkeypatch.setattr(fit.VoiceFitter, "_write_stats", lambda self: None)
    clip = gpu_engine.synthesize("The old keeper climbed the stairs every evening. He checked the lamp and "
                                 "wrote a short note about the weather and the passing ships.",
                                 voice="jf_alpha", lang="en").audio
    with DeviceAudit(gpu_engine.model) as audit:
        info = gpu_engine.studio.clone((24000, clip), steps=2)
        result = gpu_engine.synthesize("Testing the cloned voice.", voice=info["voice_value"], lang="en")
    assert not info["cached"] and result.duration_s > 0.5
    assert_clean(audit)


@pytest.mark.slow
def test_blending_is_device_clean(gpu_engine):
    with DeviceAudit(gpu_engine.model) as audit:
        gpu_engine.studio.blend("jm_kumo", "jf_alpha", 0.3, "audit-blend")
        result = gpu_engine.synthesize(EN, voice="audit-blend", lang="en")
    assert result.duration_s > 1.0
    assert_clean(audit)


@pytest.mark.slow
def test_a_bug_planted_in_the_product_is_caught(gpu_engine, monkeypatch):
    """The engine's voice-shift step replaced by one that reads the F0 curve with .numpy() and adds a
    tensor made without the device: both are reported at the engine's call of that step."""
    import indextts.engine

    def planted(prosody, shift):
        prosody.f0.numpy()
        return replace(prosody, f0=prosody.f0 + torch.zeros(prosody.f0.shape))

    monkeypatch.setattr(indextts.engine, "voice_shifted", planted)
    with DeviceAudit(gpu_engine.model) as audit:
        gpu_engine.synthesize("Hello there.", voice="jm_kumo", lang="en")
    at_call = r"at indextts/engine\.py:\d+ \(_prosody\)"  # the engine's step that calls voice_shifted
    assert any(re.fullmatch(rf"torch\.Tensor\.numpy: numpy\(\) of a placed tensor {at_call}", v)
               for v in audit.violations), audit.report()
    assert any(re.fullmatch(rf"torch\.Tensor\.(add|__add__): placed\+unplaced {at_call}", v)
               for v in audit.violations), audit.report()
