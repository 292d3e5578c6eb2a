"""Text is never lost quietly (issue 15, item 5): unknown English words are read whole, and characters
of a script the engine cannot read are an error naming them (nothing else to say) or a warning (the
rest is spoken), through the frontend and through the real HTTP API and model."""
from __future__ import annotations

import io
from urllib.parse import unquote

import httpx
import numpy as np
import pytest
import soundfile as sf

from indextts.text import Frontend
from indextts.text.coverage import find_unreadable

slow = pytest.mark.slow


@pytest.fixture(scope="module")
def fe() -> Frontend:
    return Frontend()


def phonemes(fe: Frontend, text: str) -> str:
    return fe.phonemize(text, "en")


def squashed(text: str) -> str:
    return "".join(text.split())


# ---------------------------------------------------------------- unknown English words

@pytest.mark.parametrize(("run_together", "words"), [
    ("thequickbrownfoxjumpsoverthelazydog", "the quick brown fox jumps over the lazy dog"),
    ("helloworld", "hello world"),
    ("iloveyou", "i love you"),
    ("Helloworld, said the robot.", "Hello world, said the robot."),
    ("#throwbackthursday", "#throw back thursday"),
])
def test_run_together_words_are_read_as_the_words_they_are_made_of(fe, run_together, words):
    assert phonemes(fe, run_together) == phonemes(fe, words)


@pytest.mark.parametrize("name", ["Kubernetes", "Hibari", "Lamborghini", "Targaryen", "Zelensky", "iPhone",
                                  "GitHub", "supercalifragilisticexpialidocious"])
def test_names_and_long_dictionary_words_are_not_split(fe, name):
    """Short unknown words not made of common words stay whole for hibari's unknown-word reader."""
    raw = fe.g2p.en_engine(name, normalize_text=False)
    assert phonemes(fe, name) == raw


def test_a_word_longer_than_the_unknown_word_reader_is_read_to_its_end(fe):
    # hibari's own reader stops after 24 letters ("...jumpsov"), which would lose "the lazy dog"
    tail = phonemes(fe, "lazy dog")
    assert phonemes(fe, "thequickbrownfoxjumpsoverthelazydog").endswith(tail)
    gibberish = "zqxjvkwqpzqxjvkwqpzqxjvkwqpzqxjvkwqp"   # no dictionary word in it: cut into readable runs
    one, two = (len(fe.segments(gibberish * n, "en")[0].tokens) for n in (1, 2))
    assert one > 40 and 1.8 * one <= two <= 2.2 * one  # every letter is read: twice the letters, twice the sound


def test_a_huge_unknown_word_is_split_into_segments_and_nothing_is_dropped(fe):
    text = "helloworld" * 500                          # 5000 characters, one "word": the API's limit
    segments = fe.segments(text, "en")
    per_word = len(fe.segments("hello world", "en")[0].tokens) + 1
    total = sum(len(s.tokens) for s in segments)
    assert 0.95 * 500 * per_word <= total <= 1.05 * 500 * per_word  # not 24 letters' worth (~24 tokens)
    assert "".join(s.text for s in segments) == text   # lossless, cut only between hello and world
    assert all(len(s.tokens) <= fe.max_tokens for s in segments)
    assert all(s.text.endswith(("hello", "world")) for s in segments)


def test_latin_letters_in_other_forms_are_read_not_dropped(fe):
    assert phonemes(fe, "Việt Nam") == phonemes(fe, "Viet Nam")
    assert phonemes(fe, "ｈｅｌｌｏ") == phonemes(fe, "hello")


# ---------------------------------------------------------------- unreadable scripts

@pytest.mark.parametrize(("text", "script", "quoted"), [
    ("こんにちは", "Japanese kana", "こんにちは"),
    ("안녕하세요", "Korean hangul", "안녕하세요"),
    ("مرحبا بالعالم", "Arabic", "مرحبا بالعالم"),
    ("Привет мир", "Cyrillic", "Привет мир"),
    ("สวัสดีครับ", "Thai", "สวัสดีครับ"),
])
def test_other_scripts_are_found_and_named(fe, text, script, quoted):
    unreadable = find_unreadable(text)
    assert unreadable and unreadable.count == len(squashed(text))
    assert f"{script}: {quoted}" in unreadable.error()
    assert "English and Mandarin Chinese" in unreadable.error()
    assert fe.segments(text) == []


def test_readable_text_has_nothing_unreadable():
    for text in ("Hello world, 3.5% of $20!", "你好，世界。我用 iPhone。", "Café déjà vu, naïve.", "😀 🎉 ♥ → ©",
                 "日本", "Việt Nam", "ｈｅｌｌｏ １２３"):
        assert not find_unreadable(text), text


def test_kana_inside_english_is_skipped_and_reported(fe):
    text = "Hello こんにちは world."
    assert phonemes(fe, text) == phonemes(fe, "Hello world.")
    unreadable = find_unreadable(text)
    assert unreadable.count == 5 and unreadable.scripts == ["Japanese kana"]
    assert unreadable.warning().startswith("skipped 5 characters the engine cannot read (Japanese kana: こんにちは)")


def test_han_with_lang_en_is_named_with_what_to_do():
    unreadable = find_unreadable("你好", "en")
    assert "Chinese characters: 你好" in unreadable.error() and "use lang zh or auto" in unreadable.error()
    assert not find_unreadable("你好", "zh") and not find_unreadable("你好")


# ---------------------------------------------------------------- through the real HTTP API

def speech(url: str, **body) -> httpx.Response:
    return httpx.post(f"{url}/v1/audio/speech", json=body, timeout=300)


def stream_speech(url: str, **body) -> tuple[httpx.Headers, bytes]:
    with httpx.stream("POST", f"{url}/v1/audio/speech", json={"stream": True, **body}, timeout=300) as response:
        assert response.status_code == 200, response.read().decode(errors="replace")
        return response.headers, response.read()


def wav_seconds(data: bytes) -> float:
    audio, rate = sf.read(io.BytesIO(data), dtype="float32")
    return len(audio) / rate


@slow
@pytest.mark.parametrize("text", ["こんにちは", "안녕하세요", "مرحبا بالعالم", "Привет мир"])
@pytest.mark.parametrize("stream", [False, True])
def test_text_in_another_script_only_is_a_400_naming_it(live_server, text, stream):
    response = speech(live_server.url, input=text, response_format="pcm", stream=stream)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == "input" and error["type"] == "invalid_request_error"
    assert text in error["message"], error["message"]   # not a guess such as "only symbols or emoji?"
    assert "English and Mandarin Chinese" in error["message"]


@slow
@pytest.mark.parametrize("stream", [False, True])
def test_skipped_characters_are_reported_in_a_header(live_server, stream):
    text = "Hello こんにちは world."
    if stream:
        headers, data = stream_speech(live_server.url, input=text, response_format="wav", voice="af_heart")
    else:
        response = speech(live_server.url, input=text, response_format="wav", voice="af_heart")
        assert response.status_code == 200, response.text
        headers, data = response.headers, response.content
    warning = headers["x-text-warning"]
    assert warning.isascii()
    assert unquote(warning).startswith("skipped 5 characters the engine cannot read (Japanese kana: こんにちは)")
    assert wav_seconds(data) > 0.5
    plain = speech(live_server.url, input="Hello world.", response_format="wav", voice="af_heart")
    assert "x-text-warning" not in plain.headers


@slow
def test_run_together_words_are_spoken_in_full(live_server, asr):
    """'helloworld' x 20 was one unknown word read from its first 24 letters: about 1.4 s of audio."""
    url = live_server.url
    durations = {}
    for n in (20, 40):
        response = speech(url, input="helloworld" * n, response_format="wav", voice="af_heart")
        assert response.status_code == 200, response.text
        durations[n] = wav_seconds(response.content)
    assert durations[20] > 20 * 0.5, durations           # twenty "hello world"s take more than 10 s
    assert 1.7 < durations[40] / durations[20] < 2.3, durations  # and the audio scales with the text
    response = speech(url, input="thequickbrownfoxjumpsoverthelazydog", response_format="wav", voice="af_heart")
    audio, rate = sf.read(io.BytesIO(response.content), dtype="float32")
    transcribe, normalize = asr
    heard = normalize(transcribe(audio, rate, "en"), "en")
    assert heard.split()[-2:] == ["lazy", "dog"], heard   # the end of the word is spoken
    assert np.abs(audio).max() > 0.05


@slow
def test_the_page_notes_skipped_characters(live_server):
    from gradio_client import Client

    client = Client(live_server.url + "/", verbose=False)
    notes = []
    for text in ("Hello こんにちは world.", "Hello world."):
        job = client.submit(text, "af_heart", 1.0, "auto", 400, 0.25, "wav", "en", api_name="/synthesize")
        audio = job.result(timeout=300)[0]
        assert sf.info(audio).duration > 0.5
        updates = job.communicator.updates  # every status the page sent, its notes (gr.Warning) among them
        logs = [u.log for u in (updates.get_nowait() for _ in range(updates.qsize())) if getattr(u, "log", None)]
        notes.append([message for message, level in logs if level == "warning"])
    assert len(notes[0]) == 1 and notes[0][0].startswith(
        "skipped 5 characters the engine cannot read (Japanese kana: こんにちは)"), notes
    assert notes[1] == []
