"""Settings presets: the store (one JSON file per preset, atomic, names, re-read on change), the merge into a request
(fields the caller set win), the API (``/v1/presets``, ``"preset"`` in ``/v1/audio/speech``) through real HTTP with
the fake engine, the CLI, and with the real model: a preset gives the same audio as its fields sent explicitly,
through the HTTP API and after a save through gradio_client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from conftest import ROOT, clean_env, serving
from http_checks import assert_openai_error, decode, speech
from indextts.errors import InputError
from indextts.presets import PresetStore, apply_preset, check_name, preset_fill, preset_of, synthesis_options
from indextts.server.routes.speech import SpeechRequest


@pytest.fixture
def store(tmp_path) -> PresetStore:
    return PresetStore(tmp_path / "presets")


# ---------------------------------------------------------------- the store

def test_a_preset_round_trips_through_its_file_and_a_new_store(store, tmp_path):
    narration = preset_of({"name": "Narration", "voice": "af_bella", "speed": 1.2, "lang": "en",
                           "emotion": {"happy": 0.5}, "emotion_weight": 0.8, "max_tokens": 120, "pause_s": 0.4})
    assert store.save(narration) is False
    path = tmp_path / "presets" / "Narration.json"
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk["voice"] == "af_bella" and on_disk["speed"] == 1.2 and "name" not in on_disk
    again = PresetStore(tmp_path / "presets").get("NARRATION")  # another process; any case
    assert again == narration
    # an edit on disk (by hand, or another app) is seen at the next read
    path.write_text(json.dumps({**on_disk, "speed": 0.8}), encoding="utf-8")
    assert store.get("narration").speed == 0.8
    # the same name in another case replaces it, and the stored name takes the new case
    assert store.save(preset_of({"name": "narration", "speed": 1.5})) is True
    assert store.names() == ["narration"] and [p.name for p in (tmp_path / "presets").iterdir()] == ["narration.json"]


def test_rename_delete_and_their_mistakes(store):
    store.save(preset_of({"name": "a", "speed": 1.1}))
    store.save(preset_of({"name": "b", "speed": 1.2}))
    with pytest.raises(InputError, match="a preset named 'b' already exists") as clash:
        store.rename("a", "B")
    assert clash.value.field == "new_name"
    assert store.rename("a", "Slow 朗读").speed == 1.1
    assert store.names() == ["b", "Slow 朗读"]
    assert store.rename("slow 朗读", "SLOW 朗读").name == "SLOW 朗读"  # only the case changes
    assert store.delete("slow 朗读").name == "SLOW 朗读"
    with pytest.raises(InputError, match=r"no preset named 'slow 朗读' \(saved presets: b\)"):
        store.get("slow 朗读")


def test_a_failed_write_leaves_the_old_preset_whole(store, tmp_path, monkeypatch):
    store.save(preset_of({"name": "keep", "speed": 1.25}))

    def torn(self, data, encoding=None):  # a disk that fills up halfway through the new file
        with open(self, "w", encoding=encoding) as out:
            out.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", torn)
    with pytest.raises(OSError):
        store.save(preset_of({"name": "keep", "speed": 2.0}))
    monkeypatch.undo()
    assert store.get("keep").speed == 1.25
    assert [p.name for p in (tmp_path / "presets").iterdir()] == ["keep.json"]  # no temp file left


def test_a_broken_file_is_left_out_of_the_list_and_named_when_asked_for(store, tmp_path):
    store.save(preset_of({"name": "good"}))
    (tmp_path / "presets" / "bad.json").write_text("{not json", encoding="utf-8")
    assert store.names() == ["good"]
    with pytest.raises(InputError, match="bad.json is not valid"):
        store.get("bad")


@pytest.mark.parametrize("name, fragment", [
    ("", "needs a name"), ("   ", "needs a name"), ("../etc", "may hold only"), ("a/b", "may hold only"),
    ("a\\b", "may hold only"), (".hidden", "may hold only"), ("x" * 65, "at most 64"), ("a:b", "may hold only"),
])
def test_bad_names_are_refused(name, fragment):
    with pytest.raises(InputError, match=fragment):
        check_name(name)


def test_good_names_are_kept_as_typed():
    assert check_name("  Narration (slow) ") == "Narration (slow)"
    assert check_name("旁白 2") == "旁白 2"


@pytest.mark.parametrize("fields, field", [
    ({"speed": 9}, "speed"), ({"voice": "af bella"}, "voice"), ({"lang": "fr"}, "lang"),
    ({"emotion": {"joy": 1}}, "emotion"), ({"max_tokens": 3}, "max_tokens"), ({"pause_s": 9}, "pause_s"),
    ({"emotion": {"happy": 1}, "emotion_text": "sad"}, "emotion_text"), ({"volume": 2}, "volume"),
    ({"emotion_weight": 2}, "emotion_weight"),
])
def test_bad_settings_name_their_field(fields, field):
    with pytest.raises(InputError) as caught:
        preset_of({"name": "x", **fields})
    assert caught.value.field == field


# ---------------------------------------------------------------- the merge

def test_the_fields_a_caller_set_win_and_groups_stay_whole():
    preset = preset_of({"name": "p", "voice": "af_bella", "speed": 1.3, "lang": "en", "emotion": {"sad": 0.7},
                        "emotion_weight": 0.5})
    fill = preset_fill(preset, given={"speed", "emotion_text"})
    assert fill["voice"] == "af_bella" and fill["lang"] == "en" and fill["emotion_weight"] == 0.5
    assert "speed" not in fill
    assert "emotion" not in fill  # the caller chose an emotion description: the preset's vector stays out
    assert "lang" not in preset_fill(preset, given={"lang_code"})  # lang_code is the caller's lang
    assert "max_tokens" not in preset_fill(preset, given=(), accepted={"voice", "speed"})


def test_apply_preset_fills_a_speech_request_and_names_a_deleted_voice(store):
    store.save(preset_of({"name": "p", "voice": "af_bella", "speed": 1.3, "emotion_text": "happy", "pause_s": 0.4}))
    body = SpeechRequest.model_validate({"input": "Hi.", "speed": 0.9, "preset": "P"})
    filled = apply_preset(body, store, voice_exists=lambda voice: True)
    assert (filled.voice, filled.speed, filled.emotion_text, filled.pause_s) == ("af_bella", 0.9, "happy", 0.4)
    with pytest.raises(InputError) as gone:
        apply_preset(body, store, voice_exists=lambda voice: False)
    assert str(gone.value) == "preset 'p' uses voice 'af_bella', which no longer exists (deleted?)"
    assert gone.value.field == "preset"
    # a request that names its own voice does not need the preset's
    assert apply_preset(body.model_copy(update={"voice": "jm_kumo"}, deep=True), store,
                        voice_exists=lambda voice: False).speed == 0.9
    with pytest.raises(InputError, match="no preset named 'nope'") as unknown:
        apply_preset(SpeechRequest(input="Hi.", preset="nope"), store, voice_exists=lambda voice: True)
    assert unknown.value.field == "preset"


def test_synthesis_options_for_the_cli():
    preset = preset_of({"name": "p", "voice": "af_bella", "speed": 1.3, "emotion": {"happy": 1.0}, "max_tokens": 90})
    options = synthesis_options(preset, {"speed": 0.8, "duration_s": 2.0})
    assert options["voice"] == "af_bella" and options["speed"] == 0.8 and options["duration_s"] == 2.0
    assert options["max_tokens"] == 90 and options["emotion"].describe()["mode"] == "vector"


# ---------------------------------------------------------------- the API (fake engine, real HTTP)

@pytest.fixture
def preset_app(make_app, tmp_path):
    app, settings = make_app()
    with serving(app) as url:
        yield url, tmp_path


def sidecar(root: Path, output_id: str) -> dict:
    return json.loads(next((root / "outputs").rglob(f"{output_id}.json")).read_text(encoding="utf-8"))["request"]


def test_presets_over_http(preset_app):
    url, tmp = preset_app
    assert httpx.get(f"{url}/v1/presets").json() == {"presets": []}
    saved = httpx.post(f"{url}/v1/presets", json={"name": "Calm", "voice": "jf_alpha", "speed": 1.4,
                                                  "emotion": {"calm": 0.8}, "pause_s": 0.3})
    assert saved.status_code == 200, saved.text
    assert saved.json()["replaced"] is False and saved.json()["preset"]["speed"] == 1.4
    assert (tmp / "presets" / "Calm.json").is_file()
    assert [p["name"] for p in httpx.get(f"{url}/v1/presets").json()["presets"]] == ["Calm"]
    assert httpx.get(f"{url}/v1/presets/calm").json()["voice"] == "jf_alpha"

    # a speech request with the preset: its fields fill what the request left out, the request's own win
    reply = speech(url, input="Hello there.", preset="calm", response_format="wav")
    assert reply.status_code == 200, reply.text
    used = sidecar(tmp, reply.headers["X-Output-Id"])
    assert (used["voice_used"], used["speed"], used["pause_s"], used["preset"]) == ("jf_alpha", 1.4, 0.3, "calm")
    assert used["emotion"]["mode"] == "vector" and used["emotion"]["vector"]["calm"] == 0.8
    own = speech(url, input="Hello there.", preset="Calm", speed=0.7, voice="jm_kumo", response_format="wav")
    used = sidecar(tmp, own.headers["X-Output-Id"])
    assert (used["voice_used"], used["speed"]) == ("jm_kumo", 0.7)

    renamed = httpx.post(f"{url}/v1/presets/CALM/rename", json={"new_name": "Quiet"})
    assert renamed.status_code == 200 and renamed.json()["preset"]["name"] == "Quiet"
    assert_openai_error(speech(url, input="Hi.", preset="Calm"), 400, "no preset named 'Calm'", "preset")
    deleted = httpx.delete(f"{url}/v1/presets/quiet")
    assert deleted.status_code == 200 and deleted.json()["deleted"]["name"] == "Quiet"
    assert_openai_error(httpx.delete(f"{url}/v1/presets/quiet"), 404, "no preset named 'quiet'", "name")
    assert_openai_error(httpx.get(f"{url}/v1/presets/quiet"), 404, "no preset named", "name")


@pytest.mark.parametrize("body, fragment, param", [
    ({"name": "x", "speed": 9}, "speed must be between", "speed"),
    ({"name": "x", "voice": "af bella!"}, "is not a voice name", "voice"),
    ({"name": "x", "voice": "darth_vader"}, "unknown voice 'darth_vader'", "voice"),
    ({"name": "../x"}, "may hold only", "name"),
    ({"speed": 1.0}, "a preset needs a name", "name"),
    ({"name": "x", "emotion": {"joy": 1}}, "unknown emotion", "emotion"),
    ({"name": "x", "input": "text"}, "unknown preset field 'input'", "input"),
])
def test_bad_presets_are_400s_naming_the_field(preset_app, body, fragment, param):
    url, _ = preset_app
    assert_openai_error(httpx.post(f"{url}/v1/presets", json=body), 400, fragment, param)


def test_a_preset_whose_voice_was_deleted_says_so(preset_app):
    url, tmp = preset_app
    (tmp / "presets").mkdir(exist_ok=True)
    (tmp / "presets" / "old.json").write_text(json.dumps({"voice": "my_clone", "speed": 1.2}), encoding="utf-8")
    assert_openai_error(speech(url, input="Hi.", preset="old"), 400,
                        "preset 'old' uses voice 'my_clone', which no longer exists (deleted?)", "preset")
    assert speech(url, input="Hi.", preset="old", voice="jm_kumo").status_code == 200  # its own voice: fine
    assert_openai_error(httpx.post(f"{url}/v1/presets/old/rename", json={"new_name": "a/b"}), 400,
                        "may hold only", "new_name")


# ---------------------------------------------------------------- the CLI (no model)

def run_cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "indextts", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_cli_lists_shows_and_deletes(tmp_path):
    env = {**clean_env(), "INDEXTTS_PATHS__PRESETS": str(tmp_path / "presets")}
    PresetStore(tmp_path / "presets").save(preset_of({"name": "Narration", "voice": "af_bella", "speed": 1.1}))
    listed = run_cli("presets", "list", env=env)
    assert listed.returncode == 0 and listed.stdout.startswith("Narration\t{") and '"speed": 1.1' in listed.stdout
    shown = run_cli("presets", "show", "narration", env=env)
    assert shown.returncode == 0 and json.loads(shown.stdout)["voice"] == "af_bella"
    assert run_cli("presets", "delete", "NARRATION", env=env).stdout.strip() == "deleted preset Narration"
    missing = run_cli("presets", "show", "narration", env=env)
    assert missing.returncode == 2 and "no preset named 'narration'" in missing.stderr
    unknown = run_cli("synth", "Hi.", "-o", str(tmp_path / "x.wav"), "--preset", "nope", env=env)
    assert unknown.returncode == 2 and "no preset named 'nope'" in unknown.stderr


def test_cli_saves_a_preset_the_store_reads(tmp_path):
    env = {**clean_env(), "INDEXTTS_PATHS__PRESETS": str(tmp_path / "presets")}
    saved = run_cli("presets", "save", "Calm reading", "--voice", "bf_emma", "--speed", "0.9", "--emotion",
                    '{"calm": 0.6}', "--pause", "0.5", env=env)
    assert saved.returncode == 0 and saved.stdout.strip() == "saved preset Calm reading", saved.stderr
    preset = PresetStore(tmp_path / "presets").get("calm reading")
    assert (preset.voice, preset.speed, preset.emotion, preset.pause_s) == ("bf_emma", 0.9, {"calm": 0.6}, 0.5)
    again = run_cli("presets", "save", "calm reading", "--speed", "1.2", env=env)
    assert again.stdout.strip() == "replaced preset calm reading"
    assert PresetStore(tmp_path / "presets").get("Calm Reading").speed == 1.2
    bad = run_cli("presets", "save", "x", "--speed", "9", env=env)
    assert bad.returncode == 2 and "speed" in bad.stderr
    bad = run_cli("presets", "save", "x", "--emotion", "happy", env=env)
    assert bad.returncode == 2 and "JSON object" in bad.stderr


# ---------------------------------------------------------------- the real model

TEXT = "The preset keeps my settings. 它也能读中文。"
EXPLICIT = {"voice": "af_bella", "speed": 1.3, "lang": "auto", "emotion_text": "happy", "emotion_weight": 0.7,
            "max_tokens": 60, "pause_s": 0.6}


def audio_of(url: str, **body) -> np.ndarray:
    reply = speech(url, input=TEXT, response_format="wav", **body)
    assert reply.status_code == 200, reply.text
    return decode(reply.content, "wav")[0]


def test_a_preset_speaks_as_its_fields_sent_explicitly(live_server):
    url = live_server.url
    saved = httpx.post(f"{url}/v1/presets", json={"name": "Bright", **EXPLICIT}, timeout=30)
    assert saved.status_code == 200, saved.text
    explicit = audio_of(url, **EXPLICIT)
    with_preset = audio_of(url, preset="bright")
    plain = audio_of(url)
    assert explicit.shape == with_preset.shape and np.array_equal(explicit, with_preset)
    assert plain.shape != explicit.shape  # the preset changed what is heard (faster, longer pauses...)
    # a field the request sets wins: slower than the preset
    slower = audio_of(url, preset="bright", speed=0.9)
    assert len(slower) > len(with_preset) * 1.2
    httpx.delete(f"{url}/v1/presets/bright", timeout=30)


def test_a_preset_saved_through_gradio_client_is_used_by_the_api(live_server):
    from gradio_client import Client

    client = Client(live_server.url + "/", verbose=False)
    result = client.predict({"name": "Gradio", **EXPLICIT}, api_name="/preset_save")
    assert result["preset"]["name"] == "Gradio" and result["replaced"] is False
    assert "Gradio" in [p["name"] for p in client.predict(api_name="/presets")]
    assert np.array_equal(audio_of(live_server.url, preset="gradio"), audio_of(live_server.url, **EXPLICIT))
    with pytest.raises(Exception, match="unknown voice|no longer exists"):
        client.predict({"name": "Bad", "voice": "nobody_here"}, api_name="/preset_save")
    assert client.predict("gradio", api_name="/preset_delete")["deleted"]["name"] == "Gradio"
    assert httpx.get(f"{live_server.url}/v1/presets", timeout=30).json() == {"presets": []}


def test_cli_synth_with_a_preset_speaks_as_the_api_does(live_server, tmp_path):
    """``synth --preset`` with one flag set: the flag wins, the rest comes from the preset (the same clip as the
    API makes from the same fields, up to the float noise of another process's thread count)."""
    import soundfile as sf

    saved = httpx.post(f"{live_server.url}/v1/presets", json={"name": "Cli", **EXPLICIT}, timeout=30)
    assert saved.status_code == 200, saved.text
    env = {**clean_env(), "INDEXTTS_PATHS__PRESETS": str(live_server.outputs.parent / "presets"),
           "INDEXTTS_PATHS__CACHE_HUB": str(ROOT / "cache_hub"), "INDEXTTS_ENGINE__THREADS": "2"}
    out = tmp_path / "cli.wav"
    try:
        proc = subprocess.run([sys.executable, "-m", "indextts", "synth", TEXT, "-o", str(out), "--preset", "cli",
                               "--speed", "0.9", "--device", "cpu", "-q"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        cli, _ = sf.read(out, dtype="float32")
        api = audio_of(live_server.url, **{**EXPLICIT, "speed": 0.9})
        assert len(cli) == len(api) and float(np.max(np.abs(cli - api))) < 0.05
        assert len(cli) != len(audio_of(live_server.url, **EXPLICIT))  # the flag's speed, not the preset's
    finally:
        httpx.delete(f"{live_server.url}/v1/presets/cli", timeout=30)
