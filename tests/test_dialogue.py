"""Multi-speaker dialogue (issue 19): the script format, the speakers table, POST /v1/audio/dialogue, the CLI and
the page's gradio_client endpoint. Fast: the parser, and the API through a real socket server around the app
with a fake engine. Real model: live_server (HTTP and gradio_client) and the CLI, judged by what a listener
hears: each turn in its own voice (pitch) with silence between turns where the reported times say."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import time

import httpx
import numpy as np
import pytest
import soundfile as sf

from conftest import ROOT, serving, wait_until
from fake_engine import FakeEngine
from indextts.dialogue import (MAX_TURNS, DialogueRender, TurnDraft, parse_emotion, parse_script, parse_speakers,
                               plan_dialogue, script_dialogue, speaker_names)
from indextts.emotion import EMOTIONS
from indextts.errors import InputError
from indextts.request import SynthesisRequest
from indextts.server.tabs.dialogue import speakers_json

ROUTE = "/v1/audio/dialogue"


def vector_of(spec) -> dict[str, float]:
    return {name: value for name, value in zip(EMOTIONS, spec.vector.values) if value}


# ---------------------------------------------------------------- the script format

def test_script_turns_names_continuations_and_comments():
    script = ("# a radio play\n"
              "\n"
              "Alice: Did you hear the news?\n"
              "Bob Smith: No. Tell me.\n"
              "  Indented lines continue the turn,\n"
              "and so do lines with no name: at 10:30 we meet.\n"
              "小明：你好！\n"
              "Dr. Lee:Fine.\n")
    turns = parse_script(script)
    assert [(t.line, t.speaker, t.text) for t in turns] == [
        (3, "Alice", "Did you hear the news?"),
        (4, "Bob Smith", "No. Tell me. Indented lines continue the turn, and so do lines with no name: at 10:30 we "
                         "meet."),
        (7, "小明", "你好！"),
        (8, "Dr. Lee", "Fine."),
    ]
    assert all(t.emotion is None for t in turns)
    assert speaker_names(script + "alice: again\n") == ["Alice", "Bob Smith", "小明", "Dr. Lee"]  # case-blind


def test_emotion_forms_in_parentheses():
    turns = parse_script("Alice (happy): Hi.\n"
                         "Bob (sad 0.4): Oh.\n"
                         "小明（怒 0.5）：哼。\n"
                         "小红（有点难过）：唉。\n"
                         "Carol (Surprised): What?\n")
    happy, sad, angry, described, surprised = (t.emotion for t in turns)
    assert vector_of(happy) == {"happy": 1.0} and happy.weight == 1.0
    assert vector_of(sad) == {"sad": 1.0} and sad.weight == 0.4
    assert vector_of(angry) == {"angry": 1.0} and angry.weight == 0.5  # IndexTTS2's Chinese name, full-width marks
    assert described.source["mode"] == "text" and vector_of(described).keys() == {"sad"}  # the lexicon's reading
    assert vector_of(surprised) == {"surprised": 1.0}
    assert turns[2].speaker == "小明" and turns[2].text == "哼。"


@pytest.mark.parametrize("script, line, words", [
    ("# intro\n\nHello there.\nAlice: Hi.", 3, "text before any speaker"),
    ("Alice: Hi.\nBob (hapy): Hello.", 2, "unknown emotion 'hapy'"),
    ("Alice: Hi.\n\nBob (joyful-ish 0.5): Hello.", 3, "unknown emotion"),
    ("Alice (happy 1.5): Hi.", 1, "intensity in 'happy 1.5' must be from 0 to 1"),
    ("Alice: Hi.\nBob:\nCarol: Yes.", 2, "Bob's turn has no text"),
    ("Alice (): Hi.", 1, "empty parentheses"),
])
def test_script_errors_name_the_line(script, line, words):
    with pytest.raises(InputError) as caught:
        parse_script(script)
    assert str(caught.value).startswith(f"line {line}: ") and words in str(caught.value), str(caught.value)
    assert caught.value.field == "script"


def test_an_empty_script_or_one_of_comments_is_refused():
    for script in ("", "   \n", "# only a comment\n\n"):
        with pytest.raises(InputError, match="script"):
            parse_script(script)


def test_emotion_descriptions_take_an_intensity_too():
    spec = parse_emotion("excited 0.5")
    assert spec.weight == 0.5 and spec.vector.total > 0


# ---------------------------------------------------------------- the speakers table and the voices

def test_speakers_table_forms():
    assert {k: v.voice for k, v in parse_speakers("Alice=af_heart, Bob Smith = am_michael").items()} == \
        {"Alice": "af_heart", "Bob Smith": "am_michael"}
    table = parse_speakers('{"Alice": {"voice": "af_heart", "emotion": "calm 0.5"}, "Bob": ""}')
    assert table["Alice"].voice == "af_heart" and table["Alice"].emotion.weight == 0.5
    assert table["Bob"].voice is None  # an empty voice: chosen automatically
    for bad, words in (("Alice", "is not 'Name=voice'"), ({"Alice": 3}, "must be a voice name"),
                       ({"Alice": {"voice": "af_heart", "pitch": 2}}, "unknown field"),
                       ({"Alice": {"emotion": "hapy"}}, "unknown emotion"), ("{oops", "not valid JSON"),
                       ({"Alice": "a", "alice": "b"}, "twice")):
        with pytest.raises(InputError, match=words) as caught:
            parse_speakers(bad)
        assert caught.value.field == "speakers"


def test_unmapped_speakers_get_distinct_voices_and_the_table_is_used():
    engine = FakeEngine()  # two voices: jf_alpha, jm_kumo
    dialogue = script_dialogue(engine, "A: One.\nB: Two.\nA: Three.")
    voices = [t.request.voice for t in dialogue.turns]
    assert voices[0] == voices[2] != voices[1]
    same = script_dialogue(engine, "Ann: One.\nann: Two.\nBen: Three.")  # one speaker, however spelled
    assert [(t.speaker, t.request.voice) for t in same.turns] == [("Ann", "jm_kumo"), ("Ann", "jm_kumo"),
                                                                  ("Ben", "jf_alpha")]
    mapped = script_dialogue(engine, "A: One.\nB: Two.", "a=jf_alpha")  # names match case-insensitively
    assert [t.request.voice for t in mapped.turns] == ["jf_alpha", "jm_kumo"]
    named = plan_dialogue(engine, [TurnDraft(None, SynthesisRequest("One.", voice="jm_kumo"), "turns[0]", "turns[0]"),
                                   TurnDraft("B", SynthesisRequest("Two."), "turns[1]", "turns[1]")])
    assert [t.request.voice for t in named.turns] == ["jm_kumo", "jf_alpha"]  # not a voice another turn names
    with pytest.raises(InputError, match="no distinct default voice is left for 'C'"):
        script_dialogue(engine, "A: One.\nB: Two.\nC: Three.")
    with pytest.raises(InputError, match="'Zed', who has no line"):
        script_dialogue(engine, "A: One.", {"Zed": "jf_alpha"})
    with pytest.raises(InputError, match=r"speakers\['A'\]: unknown voice 'nope'"):
        script_dialogue(engine, "A: One.", "A=nope")


def test_a_speakers_emotion_applies_where_the_line_sets_none():
    dialogue = script_dialogue(FakeEngine(), "A: Plain.\nA (sad): Own.", {"A": {"emotion": "happy 0.5"}})
    assert vector_of(dialogue.turns[0].request.emotion) == {"happy": 1.0}
    assert vector_of(dialogue.turns[1].request.emotion) == {"sad": 1.0}


def test_render_places_turns_and_gaps():
    engine = FakeEngine()  # half a second per sentence
    result = DialogueRender(engine, script_dialogue(engine, "A: One. Two.\nB: Three.", gap_s=0.25)).run()
    assert [(t.start_s, t.end_s) for t in result.turns] == [(0.0, 1.0), (1.25, 1.75)]
    assert result.duration_s == pytest.approx(1.75)
    gap = result.clip.audio[int(1.0 * 24000):int(1.25 * 24000)]
    assert len(gap) == 6000 and not gap.any()


def test_page_table_becomes_the_speakers_json():
    rows = [("Alice", "af_heart", "happy", 0.6), ("Bob", "", "", 1.0), ("Gone", "am_adam", "", 1.0), ("", "", "", 1.0)]
    table = json.loads(speakers_json("Alice: Hi.\nBob: Yo.", rows))
    assert table == {"Alice": {"voice": "af_heart", "emotion": "happy 0.6"}}  # Bob chose nothing; Gone left


# ---------------------------------------------------------------- the API (fake engine, real sockets)

def post(url: str, body: dict, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}{ROUTE}", json=body, timeout=kwargs.pop("timeout", 30), **kwargs)


def test_api_script_answers_one_track_with_turn_times(make_app):
    app, _ = make_app()
    with serving(app) as url:
        reply = post(url, {"script": "Alice: One. Two.\nBob (sad): Three.", "gap_s": 0.5, "response_format": "wav"})
        assert reply.status_code == 200, reply.text
        assert json.loads(reply.headers["X-Dialogue-Turns"]) == [[0.0, 1.0], [1.5, 2.0]]
        audio, rate = sf.read(io.BytesIO(reply.content), dtype="float32")
        assert rate == 24000 and len(audio) == 48000
        assert not audio[24000:36000].any() and np.abs(audio[:24000]).max() > 0.1

        timed = post(url, {"turns": [{"text": "Hello.", "voice": "jf_alpha", "speaker": "Ann"},
                                     {"text": "Hi. There.", "speaker": "Ben", "emotion": {"happy": 0.7}}],
                           "timestamps": True, "response_format": "wav"})
        assert timed.status_code == 200, timed.text
        body = timed.json()
        assert [(t["speaker"], t["voice"], t["text"], t["start_s"], t["end_s"]) for t in body["turns"]] == [
            ("Ann", "jf_alpha", "Hello.", 0.0, 0.5), ("Ben", "jm_kumo", "Hi. There.", 0.85, 1.85)]
        clip, _ = sf.read(io.BytesIO(base64.b64decode(body["audio"])))
        assert len(clip) == round(1.85 * 24000) and body["output_id"]


@pytest.mark.parametrize("body, param, words", [
    ({"script": "Hello.\nAlice: Hi."}, "script", "line 1: text before any speaker"),
    ({"script": "Alice: Hi.\nBob (hapy): Yo."}, "script", "line 2: unknown emotion 'hapy'"),
    ({"script": "Alice: Hi.", "gap_s": 6}, "gap_s", "must be 0-5 s"),
    ({"script": "Alice: Hi.", "speakers": {"Bob": "jm_kumo"}}, "speakers", "'Bob', who has no line"),
    ({"script": "Alice: Hi.", "speakers": "Alice=nope"}, "speakers", "unknown voice 'nope'"),
    ({"script": "Alice: Hi.", "turns": [{"text": "Hi."}]}, "script", "one of them"),
    ({"gap_s": 0.3}, "turns", "one of them"),
    ({"turns": []}, "turns", "no turns"),
    ({"turns": [{"text": "Hi."}, {"text": "  "}]}, "turns[1].text", "turns[1]: 'input' is empty"),
    ({"turns": [{"text": "Hi.", "voice": "nope"}]}, "turns[0].voice", "turns[0]: unknown voice 'nope'"),
    ({"turns": [{"text": "Hi.", "emotion_weight": 2}]}, "turns[0].emotion_weight", "from 0 to 1"),
    ({"turns": [{"text": "Hi.", "speed": 9}]}, "turns[0].speed", "speed must be between"),
    ({"turns": [{"text": "Hi.", "spaker": "A"}]}, "turns[0].spaker", "accepted fields are text, speaker, voice"),
    ({"turns": [{"text": "Hi.", "emotion_text": "sad", "emotion": {"happy": 1}}]}, "turns[0].emotion_text",
     "one emotion source"),
    ({"script": "Alice: Hi.", "response_format": "midi"}, "response_format", "unsupported response_format"),
    ({"turns": [{"text": "x."}] * (MAX_TURNS + 1)}, "turns", f"the limit is {MAX_TURNS}"),
])
def test_api_refuses_bad_dialogues_naming_the_field(make_app, body, param, words):
    app, _ = make_app()
    with serving(app) as url:
        reply = post(url, body)
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert error["param"] == param and words in error["message"], error


def test_api_holds_the_whole_dialogue_to_max_chars(make_app):
    app, _ = make_app(engine={"max_chars": 40})
    with serving(app) as url:
        reply = post(url, {"script": "Alice: " + "word " * 5 + "\nBob: " + "word " * 5})
        assert reply.status_code == 400
        assert "the limit is 40" in reply.json()["error"]["message"]


def test_a_dialogue_whose_client_goes_away_stops_at_the_next_segment(make_app):
    engine = FakeEngine(delay_s=0.2)
    app, _ = make_app(loader=lambda s: engine)
    script = "\n".join(f"{'Ann' if i % 2 else 'Ben'}: Sentence {i}." for i in range(40))
    with serving(app) as url:
        with pytest.raises(httpx.ReadTimeout):
            post(url, {"script": script}, timeout=1.0)
        assert wait_until(lambda: f'kind="cancelled",route="{ROUTE}"}} 1.0' in httpx.get(f"{url}/metrics").text,
                          10, 0.2)
        stopped_at = engine.rendered
        time.sleep(1.0)
        assert engine.rendered == stopped_at and stopped_at < 15, stopped_at


def test_gradio_client_dialogue_with_the_fake_engine(make_app):
    from gradio_client import Client

    app, _ = make_app()
    with serving(app) as url:
        client = Client(url, verbose=False)
        audio, download, table = client.predict("A: One.\nB (calm 0.3): Two. Three.", "A=jf_alpha", 0.5,
                                                api_name="/dialogue")
        assert audio == download and sf.info(audio).duration == pytest.approx(2.0)
        assert [row[1:5] for row in table["data"]] == [["A", "jf_alpha", 0.0, 0.5], ["B", "jm_kumo", 1.0, 2.0]]
        with pytest.raises(Exception, match="line 1: text before any speaker"):
            client.predict("no speaker here", api_name="/dialogue")


# ---------------------------------------------------------------- the real model

TWO_VOICES = ("Alice: Good morning! Did you sleep well?\n"
              "Bob: Not really. The neighbours had a party until two.\n"
              "Alice (happy): Well, the coffee is ready.\n")


def pitch_st(audio: np.ndarray, rate: int) -> float:
    from indextts.emotion.analysis import measure

    return measure(audio, rate).f0_median_st


def check_two_voices(audio: np.ndarray, rate: int, turns: list[tuple[float, float]], gap_s: float) -> None:
    """Turns 0 and 2 (af_heart) sound clearly higher than turn 1 (am_michael); silence between turns exactly
    where the times put it, and speech inside every turn."""
    pieces = [audio[int(start * rate):int(end * rate)] for start, end in turns]
    alice, bob, alice_again = (pitch_st(p, rate) for p in pieces)
    assert alice - bob > 4 and alice_again - bob > 4, (alice, bob, alice_again)  # semitones: female vs male
    for (_, end), (start, _) in zip(turns, turns[1:]):
        assert start - end == pytest.approx(gap_s, abs=0.002)
        assert np.abs(audio[int((end + 0.01) * rate):int((start - 0.01) * rate)]).max() < 1e-3
    for piece in pieces:
        assert np.sqrt(np.mean(piece ** 2)) > 0.01 and len(piece) > 0.5 * rate
    assert len(audio) / rate == pytest.approx(turns[-1][1], abs=0.002)


def test_live_two_speakers_in_their_voices_with_gaps(live_server):
    reply = httpx.post(f"{live_server.url}{ROUTE}", timeout=300, json={
        "script": TWO_VOICES, "speakers": {"Alice": "af_heart", "Bob": "am_michael"}, "gap_s": 0.6,
        "response_format": "wav", "timestamps": True})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert [(t["speaker"], t["voice"]) for t in body["turns"]] == [
        ("Alice", "af_heart"), ("Bob", "am_michael"), ("Alice", "af_heart")]
    audio, rate = sf.read(io.BytesIO(base64.b64decode(body["audio"])), dtype="float32")
    check_two_voices(audio, rate, [(t["start_s"], t["end_s"]) for t in body["turns"]], 0.6)


def test_live_gradio_client_dialogue(live_server):
    from gradio_client import Client

    client = Client(live_server.url, verbose=False)
    audio, _, table = client.predict("小明：你好，今天天气很好。\nAnn: Yes, it is lovely.", "", 0.4,
                                     api_name="/dialogue")
    rows = table["data"]
    assert [row[1] for row in rows] == ["小明", "Ann"]
    assert rows[0][2].startswith("zf_") and rows[1][2].startswith("af_")  # default voices by the text's language
    data, rate = sf.read(audio, dtype="float32")
    assert len(data) / rate == pytest.approx(rows[-1][4], abs=0.01) and rows[1][3] - rows[0][4] == \
        pytest.approx(0.4, abs=0.011)


@pytest.mark.slow
def test_cli_dialogue_writes_the_track_and_prints_the_turns(tmp_path):
    script = tmp_path / "talk.txt"
    script.write_text(TWO_VOICES, encoding="utf-8")
    out = tmp_path / "talk.wav"
    env = {**os.environ, "INDEXTTS_ENGINE__DEVICE": "cpu", "INDEXTTS_ENGINE__THREADS": "2"}
    proc = subprocess.run([sys.executable, "-m", "indextts", "dialogue", str(script), "--speakers",
                           "Alice=af_heart,Bob=am_michael", "-o", str(out), "--gap", "0.5"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == 3 and "Alice (af_heart)" in lines[0] and "Bob (am_michael)" in lines[1], proc.stdout
    turns = [tuple(float(x) for x in line.split("]")[1].split("s")[0].split("-")) for line in lines]
    audio, rate = sf.read(out, dtype="float32")
    check_two_voices(audio, rate, turns, 0.5)


def test_cli_dialogue_refuses_a_bad_script_before_loading_the_model(tmp_path):
    script = tmp_path / "bad.txt"
    script.write_text("Alice: Hi.\nBob (hapy): Yo.\n", encoding="utf-8")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "indextts", "dialogue", str(script), "-o", str(tmp_path / "x.wav")],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "line 2: unknown emotion 'hapy'" in proc.stderr, proc.stderr
    assert time.monotonic() - started < 30 and not (tmp_path / "x.wav").exists()
