"""Voice cloning: reference checks, fitting, the fit cache, the voice library, API and page."""

from __future__ import annotations

import io
import time

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch

from indextts.cloning.preprocess import load_reference
from indextts.errors import Cancelled, InputError
from indextts.voice_library import VoiceLibrary, blend, check_name
from indextts.voices import VoiceBank, session_voice

SR = 24000


@pytest.fixture(scope="module")
def speech_clip(tmp_path_factory) -> tuple:
    """~9 s of a voice no stock pack has, written as a 44.1 kHz stereo FLAC: hibari's voice (close to af_heart)
    played 12 % slower, which lowers its pitch and formants."""
    from hibari import Hibari

    tts = Hibari()
    audio = np.asarray(tts("The old keeper climbed the stairs every evening. He checked the lamp and wrote "
                           "a short note about the weather and the passing ships."), dtype=np.float32)
    import soxr

    audio = soxr.resample(audio, tts.sample_rate, int(tts.sample_rate * 1.12)).astype(np.float32)
    audio44 = soxr.resample(audio, tts.sample_rate, 44100)
    path = tmp_path_factory.mktemp("clip") / "ref.flac"
    sf.write(path, np.stack([audio44, audio44 * 0.8], axis=1), 44100)
    return path, audio


def tone(seconds: float, amp: float = 0.3, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


# ---------------------------------------------------------------- preprocessing
def test_reference_is_mono_24k_trimmed_and_normalised(speech_clip):
    ref = load_reference(speech_clip[0])
    assert ref.sample_rate == SR and ref.audio.ndim == 1 and 5 < ref.duration_s <= 15
    assert ref.speech_s >= 2 and np.abs(ref.audio).max() <= 0.97 and len(ref.sha256) == 64
    assert load_reference(speech_clip[0].read_bytes()).sha256 == ref.sha256  # bytes == path


def test_long_clip_keeps_the_best_15_s(speech_clip):
    _, audio = speech_clip
    long = np.concatenate([audio] * 6 + [np.zeros(SR * 20, np.float32)])
    ref = load_reference((SR, long))
    assert ref.duration_s <= 15.0 + 1e-6 and any("15 s" in n for n in ref.notes)


@pytest.mark.parametrize("make, message", [
    (lambda p: sf.write(p, np.zeros(SR * 5, np.float32), SR), "silent"),
    (lambda p: sf.write(p, tone(1.0), SR), "only 1.0 s of speech"),
    (lambda p: sf.write(p, np.clip(tone(4.0, amp=3.0), -1, 1), SR), "clipped"),
    (lambda p: p.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt garbage"), "could not be read as audio"),
    (lambda p: p.write_text("hello, I am a text file"), "could not be read as audio"),
    (lambda p: sf.write(p, np.zeros(0, np.float32), SR), "empty"),
])
def test_bad_clips_are_rejected_with_a_clear_message(tmp_path, make, message):
    path = tmp_path / "clip.wav"
    make(path)
    with pytest.raises(InputError, match=message):
        load_reference(path)


def test_nan_audio_is_rejected():
    audio = tone(4.0)
    audio[100] = np.nan
    with pytest.raises(InputError, match="NaN"):
        load_reference((SR, audio))


# ---------------------------------------------------------------- library
def test_library_round_trips_and_rejects_bad_names(tmp_path):
    lib = VoiceLibrary(tmp_path / "voices")
    pack = torch.randn(510, 1, 256)
    lib.save("alice", pack, {"kind": "cloned"}, tone(2.0))
    assert lib.names == ["alice"] and torch.equal(lib.pack("alice"), pack)
    with pytest.raises(InputError, match="already exists"):
        lib.save("alice", pack, {})
    lib.rename("alice", "bob")
    assert lib.names == ["bob"] and lib.meta("bob")["name"] == "bob"
    data = lib.export_zip("bob")
    assert lib.import_zip(data, "carol") == "carol" and torch.equal(lib.pack("carol"), pack)
    assert (tmp_path / "voices" / "carol" / "reference.wav").is_file()
    mixed = blend(lib.pack("bob"), torch.zeros(510, 1, 256), 0.25)
    assert torch.allclose(mixed, 0.75 * pack)
    lib.delete("bob")
    assert lib.names == ["carol"]
    for bad in ("../evil", "a/b", "", ".hidden", "x" * 41, "..", "a\\b"):
        with pytest.raises(InputError, match="invalid voice name"):
            check_name(bad)
    with pytest.raises(InputError, match="not a valid .zip"):
        lib.import_zip(b"not a zip", "dave")
    with pytest.raises(InputError, match="blend weight"):
        blend(pack, pack, 1.5)


def test_an_imported_reference_clip_keeps_its_sample_rate(tmp_path):
    """A zip's reference.wav at 16 kHz is saved at 16 kHz: under a 24 kHz header it would play 1.5x fast and high."""
    import zipfile

    lib = VoiceLibrary(tmp_path / "voices")
    lib.save("src", torch.randn(510, 1, 256), {"kind": "cloned"})
    clip = io.BytesIO()
    sf.write(clip, tone(2.0, sr=16000), 16000, format="WAV", subtype="PCM_16")
    source = zipfile.ZipFile(io.BytesIO(lib.export_zip("src")))
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as out:
        for item in source.namelist():
            out.writestr(item, source.read(item))
        out.writestr("reference.wav", clip.getvalue())
    assert lib.import_zip(data.getvalue(), "copy") == "copy"
    info = sf.info(str(tmp_path / "voices" / "copy" / "reference.wav"))
    assert info.samplerate == 16000 and abs(info.duration - 2.0) < 0.01


def test_saved_voices_may_not_take_a_stock_or_openai_name_by_any_route(tmp_path):
    """A saved voice named like an OpenAI voice (the alias always wins) or a stock voice could never be used:
    saving, renaming and importing all refuse such names."""
    lib = VoiceLibrary(tmp_path / "voices")
    VoiceBank({"af_bella": torch.zeros(510, 1, 256), "jf_alpha": torch.zeros(510, 1, 256)}, lib)
    pack = torch.randn(510, 1, 256)
    lib.save("mine", pack, {"kind": "cloned"})
    for taken, why in (("alloy", "OpenAI voice name"), ("nova", "OpenAI voice name"), ("af_bella", "stock voice")):
        with pytest.raises(InputError, match=why):
            lib.save(taken, pack, {})
        with pytest.raises(InputError, match=why):
            lib.rename("mine", taken)
        with pytest.raises(InputError, match=why):
            lib.import_zip(lib.export_zip("mine"), taken)
    assert lib.names == ["mine"]


# ---------------------------------------------------------------- fitting (model)
@pytest.fixture()
def cloning_engine(engine, tmp_path):
    old = engine.voices.library
    engine.voices.library = VoiceLibrary(tmp_path / "voices")
    yield engine
    engine.voices.library = old


def test_fit_beats_the_best_stock_voice_and_is_cached(cloning_engine, speech_clip):
    engine = cloning_engine
    started = time.perf_counter()
    info = engine.studio.clone(speech_clip[0], steps=6)
    first = time.perf_counter() - started
    assert not info["cached"] and info["voice"].startswith("clone-")
    assert info["base_voice"] in engine.voices.stock_names
    assert info["similarity_fit"] > info["similarity_base"], info  # above the closest stock voice
    fitted, base = info["voice_value"].pack, engine.voices.pack(info["base_voice"])
    assert torch.equal(fitted[:, 128:], base[:, 128:])  # the prosody half is the base voice's
    assert not torch.equal(fitted[:, :128], base[:, :128])  # the timbre half was fitted
    assert info["voice"] not in engine.voices.names  # an unsaved clone is its maker's, in no shared list
    result = engine.synthesize("Testing the cloned voice.", voice=info["voice_value"], lang="en")
    assert result.duration_s > 0.8 and np.isfinite(result.audio).all()
    started = time.perf_counter()
    again = engine.studio.clone(speech_clip[0], name="keeper", save=True, steps=6)
    assert again["cached"] and time.perf_counter() - started < min(5.0, first / 2)
    assert again["voice"] == "keeper" and "keeper" in engine.voices.names
    assert engine.voices.kind("keeper") == "cloned"
    assert torch.allclose(engine.voices.style("keeper", 20), info["voice_value"].style(20))
    mixed = engine.studio.blend("keeper", "jm_kumo", 0.5, "half")
    assert mixed["kind"] == "blend" and "half" in engine.voices.names
    assert abs(info["f0_shift_st"]) <= 8 and engine.voices.f0_shift("keeper") == info["f0_shift_st"]
    assert mixed["f0_shift_st"] == pytest.approx(0.5 * info["f0_shift_st"], abs=0.01)  # weighted mean
    with pytest.raises(InputError, match="already exists"):
        engine.studio.clone(speech_clip[0], name="keeper", save=True, steps=6)


def test_a_fit_cached_by_an_older_method_is_fitted_again(cloning_engine, speech_clip):
    engine = cloning_engine
    sha = load_reference(speech_clip[0]).sha256
    engine.studio.library.store_fit(sha, 2, engine.voices.pack("jm_kumo").reshape(-1, 1, 256),
                                    {"kind": "cloned", "base_voice": "jm_kumo", "sha256": sha})
    info = engine.studio.clone(speech_clip[0], steps=2)
    assert not info["cached"] and info["fit_method"] >= 4
    assert engine.studio.clone(speech_clip[0], steps=2)["cached"]


def test_the_fit_cache_is_per_step_count(cloning_engine, speech_clip):
    """A clip fitted with few steps is not returned for a request with more (or the default)."""
    engine = cloning_engine
    quick = engine.studio.clone(speech_clip[0], steps=1)
    assert not quick["cached"] and quick["steps"] == 1
    more = engine.studio.clone(speech_clip[0], steps=3)
    assert not more["cached"] and more["steps"] == 3
    assert engine.studio.clone(speech_clip[0], steps=1)["cached"]


def test_speech_goes_on_during_a_fit_and_a_fit_can_be_cancelled(cloning_engine, speech_clip):
    """A fit's model work takes turns with speech: a short request made mid-fit is answered within about
    one fit step plus its own segment, long before the fit ends; a cancelled fit stops at its next step."""
    import threading

    engine = cloning_engine
    steps = 14
    descending = threading.Event()
    outcome: dict = {}

    def progress(_fraction: float, message: str) -> None:
        if message.startswith("fitting: step 2/"):
            descending.set()

    def fit() -> None:
        started = time.perf_counter()
        outcome["info"] = engine.studio.clone(speech_clip[0], steps=steps, progress=progress)
        outcome["fit_s"] = time.perf_counter() - started

    worker = threading.Thread(target=fit)
    worker.start()
    assert descending.wait(120)
    started = time.perf_counter()
    engine.synthesize("Still here.", voice="jm_kumo", lang="en")
    waited = time.perf_counter() - started
    fit_running_after_speech = worker.is_alive()
    worker.join(300)
    assert "info" in outcome and not outcome["info"]["cached"]
    assert fit_running_after_speech, "the speech request waited for the whole fit"
    assert waited < outcome["fit_s"] / 3, (waited, outcome["fit_s"])  # a lock held per fit: the rest of the fit

    cancel = threading.Event()
    errors: list[BaseException] = []

    def cancel_at_step_two(_fraction: float, message: str) -> None:
        if message.startswith("fitting: step 2/"):
            cancel.set()

    def cancelled_fit() -> None:
        try:
            engine.studio.clone(speech_clip[0], steps=steps + 1, progress=cancel_at_step_two, cancel=cancel)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    worker = threading.Thread(target=cancelled_fit)
    worker.start()
    worker.join(120)
    assert not worker.is_alive() and len(errors) == 1 and isinstance(errors[0], Cancelled), errors
    assert engine.studio.library.cached_fit(load_reference(speech_clip[0]).sha256, steps + 1) is None


def test_stock_voice_statistics_are_measured_once_and_kept_on_disk(engine, tmp_path, monkeypatch):
    from indextts.cloning.fit import VoiceFitter

    tokenize = lambda text: engine.frontend.segments(text, "en")[0].tokens  # noqa: E731
    shipped = {name: pack for name, pack in engine.voices.stock_packs.items() if name.startswith("j")}
    make = lambda tag="cpu": VoiceFitter(engine.model, shipped, tokenize,  # noqa: E731
                                         stats_dir=tmp_path, render_tag=tag)
    first = make()
    first.prepare()
    (stats,) = tmp_path.glob("stock-*.json")
    ref_emb = first._stock_embedding("jm_kumo", 2)

    def no_render(*_args):
        raise AssertionError("a stock voice was rendered again")

    monkeypatch.setattr(VoiceFitter, "_stock_audio", no_render)
    later = make()  # another process: reads the statistics instead of rendering 5 voices
    later.prepare()
    assert torch.equal(later._stock_embedding("jm_kumo", 2), ref_emb)
    assert later._stock_pitch("jm_kumo") == first._stock_pitch("jm_kumo")
    with pytest.raises(AssertionError, match="rendered again"):
        make("cuda").prepare()  # other renderings, other statistics
    stats.write_text("{not json")
    with pytest.raises(AssertionError, match="rendered again"):
        make().prepare()  # an unreadable file is measured again, not trusted


def test_stock_statistics_are_measured_in_the_background_between_speech_turns(engine, tmp_path, monkeypatch):
    """The first start after an install measures the base voices' statistics after the engine is ready, one
    voice per model turn: a speech request waits for one voice's measurement at most."""
    from indextts.cloning.fit import VoiceFitter

    tokenize = lambda text: engine.frontend.segments(text, "en")[0].tokens  # noqa: E731
    shipped = {name: pack for name, pack in engine.voices.stock_packs.items() if name.startswith("j")}
    fitter = VoiceFitter(engine.model, shipped, tokenize, stats_dir=tmp_path, render_tag="test")
    fitter.prepare(["jm_kumo"])  # warm the encoder and YIN: the timing below is per voice
    per_voice = time.perf_counter()
    fitter.prepare(["jf_alpha"])
    per_voice = time.perf_counter() - per_voice
    monkeypatch.setattr(engine.studio, "_fitter", fitter)
    assert fitter.unmeasured() == ["jf_gongitsune", "jf_nezumi", "jf_tebukuro"]
    thread = engine.studio.prepare()
    assert thread is not None and thread.is_alive()
    started = time.perf_counter()
    engine.synthesize("Speech keeps its place.", voice="jm_kumo")
    waited = time.perf_counter() - started
    thread.join(timeout=120)
    assert not thread.is_alive() and fitter.unmeasured() == []
    assert waited < per_voice + 3.0, (waited, per_voice)  # one voice's turn, then this request's
    assert engine.studio.prepare() is None  # nothing left to measure
    assert (tmp_path / fitter._stats_file.name).is_file()


def test_articulation_guard_passes_a_timbre_change_and_stops_scrambled_or_smeared_speech(engine):
    import librosa
    from scipy.signal import lfilter

    from indextts.cloning.guard import MIN_MATCH, compare

    speech = engine.synthesize("She found a quiet place by the river.", voice="jm_kumo", lang="en").audio
    brighter = lfilter([1.0, -0.9], [1.0], speech).astype(np.float32)  # another spectral balance
    blocks = speech[: len(speech) // 2400 * 2400].reshape(-1, 2400)  # 0.1 s blocks, shuffled
    scrambled = blocks[np.random.default_rng(0).permutation(len(blocks))].reshape(-1)
    # Smeared: every bin's log-magnitude pulled 40 % toward its average over time (flattened formant moves).
    spec = librosa.stft(speech, n_fft=1024, hop_length=256)
    log_mag = np.log(np.abs(spec) + 1e-7)
    flat = log_mag.mean(axis=1, keepdims=True) + 0.6 * (log_mag - log_mag.mean(axis=1, keepdims=True))
    smeared = librosa.istft(np.exp(flat) * np.exp(1j * np.angle(spec)), hop_length=256, length=len(speech))

    same = compare(speech, speech)
    assert same.match == pytest.approx(1.0, abs=1e-3) and same.contrast == pytest.approx(1.0, abs=1e-3)
    assert compare(brighter, speech).clear and compare(brighter, speech).match > 0.9
    assert compare(scrambled, speech[: len(scrambled)]).match < MIN_MATCH - 0.2
    assert not compare(scrambled, speech[: len(scrambled)]).clear
    smeared_score = compare(smeared, speech)
    assert smeared_score.match > MIN_MATCH and not smeared_score.clear  # only the contrast catches it


def f0_ratio(plain, shifted) -> float:
    """Median ratio of the two renderings' F0 curves on the points that are fully voiced in both."""
    a, b = (torch.cat([seg.prosody.f0.float().reshape(-1) for seg in r.segments]) for r in (plain, shifted))
    voiced = (a > 70) & (b > 70)
    return float((b[voiced] / a[voiced]).median())


def test_voice_pitch_shift_is_on_the_f0_curve_and_adds_to_emotion(engine):
    from indextts.emotion import spec_from_request
    from indextts.emotion.apply import shift_f0, voice_shifted

    f0 = torch.tensor([[0.0, 0.0, 150.0, 200.0, 250.0, 0.0]])
    up = shift_f0(f0, 12.0)
    assert torch.equal(up[f0 == 0], f0[f0 == 0]) and torch.allclose(up[f0 > 0], 2 * f0[f0 > 0])
    assert engine.voices.f0_shift("jm_kumo") == 0.0
    text = "The small boat drifted slowly along the river."
    up3 = session_voice("kumo-up3", engine.voices.pack("jm_kumo"), 3.0)
    ratio = 2 ** (3 / 12)
    plain, shifted = (engine.synthesize(text, voice=v, lang="en") for v in ("jm_kumo", up3))
    assert f0_ratio(plain, shifted) == pytest.approx(ratio, rel=0.01)
    happy = spec_from_request(vector={"happy": 1.0})
    plain, shifted = (engine.synthesize(text, voice=v, lang="en", emotion=happy) for v in ("jm_kumo", up3))
    assert f0_ratio(plain, shifted) == pytest.approx(ratio, rel=0.01)  # the shifts add
    prosody = plain.segments[0].prosody
    assert voice_shifted(prosody, 0.0) is prosody  # no shift: untouched


# ---------------------------------------------------------------- API and page (real app)
def test_api_create_list_speak_delete(live_server, speech_clip):
    url = live_server.url
    with open(speech_clip[0], "rb") as fh:
        r = httpx.post(f"{url}/v1/voices", files={"file": ("ref.flac", fh, "audio/flac")},
                       data={"name": "api_voice"}, timeout=600)  # default steps: the page test reuses it
    assert r.status_code == 200, r.text
    assert r.json()["id"] == "api_voice"
    listed = {v["id"]: v for v in httpx.get(f"{url}/v1/voices").json()["voices"]}
    assert listed["api_voice"]["kind"] == "cloned" and listed["jm_kumo"]["kind"] == "stock"
    speech = httpx.post(f"{url}/v1/audio/speech", json={"input": "Hello from a cloned voice.",
                                                         "voice": "api_voice", "response_format": "wav"}, timeout=120)
    assert speech.status_code == 200, speech.text
    assert sf.info(io.BytesIO(speech.content)).duration > 0.8
    bad = httpx.post(f"{url}/v1/voices", files={"file": ("x.wav", b"not audio", "audio/wav")},
                     data={"name": "nope"}, timeout=60)
    assert bad.status_code == 400 and "could not be read as audio" in bad.json()["error"]["message"]
    traversal = httpx.post(f"{url}/v1/voices", files={"file": ("ref.flac", speech_clip[0].read_bytes())},
                           data={"name": "../x"}, timeout=60)
    assert traversal.status_code == 400 and "invalid voice name" in traversal.json()["error"]["message"]
    assert httpx.delete(f"{url}/v1/voices/api_voice").status_code == 200
    assert httpx.delete(f"{url}/v1/voices/api_voice").status_code == 404
    assert httpx.delete(f"{url}/v1/voices/jm_kumo").status_code == 400


def test_page_clones_through_gradio_client(live_server, speech_clip):
    from gradio_client import Client, handle_file

    client = Client(live_server.url + "/", verbose=False)
    # the API test fitted this clip already (same server): the page reuses the cached fit
    result = client.predict(handle_file(str(speech_clip[0])), "en", "jm_kumo", api_name="/clone_voice")
    import re

    message = result[0]
    found = re.search(r"\*\*(clone-[0-9a-f]{8})\*\*", message)
    assert found and "similarity" in message and "reused" in message, message
    voice = found.group(1)
    # the unsaved clone is this client session's: it speaks with it, and no shared list shows it
    audio, *_ = client.predict("Hello from my clone.", voice, 1.0, "en", 400, 0.25, "wav", "en",
                               api_name="/synthesize")
    assert sf.info(audio).duration > 0.5
    assert voice not in client.predict(api_name="/voices")
