"""Word timestamps and subtitles: the written words' token spans (frontend), the timing arithmetic, subtitle
cues and formats (fast); then real speech: times against the audio, pauses and speed (model), and
``POST /v1/audio/speech/timed`` over HTTP (the real app)."""

from __future__ import annotations

import base64
import io
import re
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from indextts.subtitles import MAX_CUE_S, MAX_CUE_WIDTH, cues, subtitles, width
from indextts.text import Frontend
from indextts.text.frontend import Segment
from indextts.text.word_spans import WordSpan
from indextts.timing import DECODER_LEAD_S, TimedText, clip_timing, segment_offsets_s

SR = 24000
PARAGRAPH = ("The museum opens at nine, and the tickets cost $1,250.75 for the whole group. "
             "Please arrive early. We will walk through the galleries slowly, stopping at each painting, "
             "so everyone has time to look and ask questions.")


@pytest.fixture(scope="module")
def frontend() -> Frontend:
    return Frontend()


# ---------------------------------------------------------------- written words -> tokens (frontend)

def test_a_money_amount_is_one_written_word_over_all_its_spoken_words(frontend):
    [segment] = frontend.segments("It costs $1,250.75 today.", "en")
    assert [w.text for w in segment.words] == ["It", "costs", "$1,250.75", "today"]
    money = segment.words[2]
    spoken = segment.phonemes[money.phoneme_start:money.phoneme_end]
    assert spoken.startswith("wˈʌn θˈWzᵊnd") and spoken.endswith("sˈɛnts")  # one thousand ... cents
    assert segment.text[money.start:money.end] == "$1,250.75"


def test_written_words_follow_the_text_and_their_phonemes_in_order(frontend):
    for text in (PARAGRAPH, "Dr. Smith left at 3pm on 2024-03-15 — with the JSON file!",
                 "e.g. this works (really) & that's it: Jan. 5th — 50% of them.",
                 "我在2024年买了Apple Watch，花了一千元。"):
        for segment in frontend.segments(text):
            words = segment.words
            assert words, segment.text
            letters = lambda text: re.sub(r"\W", "", text)  # noqa: E731
            assert letters("".join(w.text for w in words)) == letters(segment.text)  # every written word
            for a, b in zip(words, words[1:]):
                assert a.end <= b.start and a.phoneme_end <= b.phoneme_start
            for w in words:
                assert segment.text[w.start:w.end] == w.text
                assert 0 <= w.phoneme_start < w.phoneme_end <= len(segment.tokens)


def test_an_abbreviation_keeps_its_dot_and_a_sentence_end_does_not(frontend):
    [segment] = frontend.segments("Dr. Smith met Mr. Lee at 5 p.m. in the U.S. and paid 3.5.", "en")
    assert [w.text for w in segment.words] == ["Dr.", "Smith", "met", "Mr.", "Lee", "at", "5", "p.m.", "in",
                                               "the", "U.S.", "and", "paid", "3.5"]


def test_chinese_words_are_the_segmenters(frontend):
    [segment] = frontend.segments("我们明天早上见面。", "zh")
    assert "".join(w.text for w in segment.words) == "我们明天早上见面"
    assert [w.text for w in segment.words][:1] == ["我们"]


def test_words_of_a_long_sentence_cut_into_segments_stay_with_their_segment(frontend):
    segments = frontend.segments(PARAGRAPH, "en", max_tokens=90)
    assert len(segments) > 3
    written = [w.text for s in segments for w in s.words]
    assert written == [t.strip(".,") for t in PARAGRAPH.split()]


# ---------------------------------------------------------------- timing arithmetic

def _rendered(tokens, frames, trim_start_s, samples):
    return SimpleNamespace(tokens=tuple(tokens), audio=np.zeros(samples, dtype=np.float32),
                           trim_start_s=trim_start_s, prosody=SimpleNamespace(frames=torch.tensor(frames)))


def test_word_times_come_from_the_frames_less_the_trim_plus_the_segment_offset():
    # tokens: "ab cd" -> 5 phoneme tokens; model frames: boundary 10, a 2, b 2, space 4, c 2, d 2, boundary 20
    segment = Segment("ab cd", "en", "ab cd", (1, 2, 3, 4, 5),
                      words=(WordSpan("ab", 0, 2, 0, 2), WordSpan("cd", 3, 5, 3, 5)))
    rendered = _rendered(segment.tokens, [10, 2, 2, 4, 2, 2, 20], trim_start_s=0.2, samples=int(0.5 * SR))
    timing = clip_timing([segment], [rendered], [1.0], SR)
    (ab, cd), = [timing.words]
    # frame 10 = 0.25 s, less the 0.2 s trim and the decoder's lead, plus the 1 s offset
    assert (ab.start_s, ab.end_s) == pytest.approx((1.05 - DECODER_LEAD_S, 1.15 - DECODER_LEAD_S))
    assert (cd.start_s, cd.end_s) == pytest.approx((1.25 - DECODER_LEAD_S, 1.35 - DECODER_LEAD_S))
    assert timing.segments[0].start_s == 1.0 and timing.segments[0].end_s == pytest.approx(1.5)
    assert [w.written for w in timing.words] == ["ab ", "cd"]


def test_times_are_clamped_inside_the_segment_audio():
    segment = Segment("ab", "en", "ab", (1, 2), words=(WordSpan("ab", 0, 2, 0, 2),))
    rendered = _rendered(segment.tokens, [4, 40, 40, 4], trim_start_s=0.5, samples=int(0.9 * SR))
    [word] = clip_timing([segment], [rendered], [0.0], SR).words
    assert word.start_s == 0.0 and word.end_s == pytest.approx(0.9)


def test_a_segment_rendered_from_other_tokens_is_refused():
    segment = Segment("ab", "en", "ab", (1, 2), words=(WordSpan("ab", 0, 2, 0, 2),))
    with pytest.raises(ValueError):
        clip_timing([segment], [_rendered((1, 3), [1, 1, 1, 1], 0.0, 100)], [0.0], SR)


def test_segments_are_found_in_the_clip_whatever_the_pauses():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(2400).astype(np.float32), rng.standard_normal(1200).astype(np.float32)
    clip = np.concatenate([a, np.zeros(3000, np.float32), b])
    assert segment_offsets_s(clip, [a, b], SR) == pytest.approx([0.0, 5400 / SR])


# ---------------------------------------------------------------- subtitles

def _words(text: str, seconds_per_word: float = 0.4) -> list[TimedText]:
    tokens = re.findall(r"\S+\s*", text)
    return [TimedText(t.strip(".,;:!?"), k * seconds_per_word, (k + 0.8) * seconds_per_word, t)
            for k, t in enumerate(tokens)]


SRT_CUE_RE = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n([^\n]+)\n")
VTT_CUE_RE = re.compile(r"(?:\S+\n)?(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})\n([^\n]+)\n")


def _seconds(h, m, s, ms) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def parse_srt(text: str) -> list[tuple[float, float, str]]:
    """SubRip read back strictly: numbered blocks 1..n, one blank line after each, nothing else."""
    blocks = text.split("\n\n")
    assert blocks[-1] == "", "an SRT file ends with a blank line after its last cue"
    out = []
    for k, block in enumerate(blocks[:-1], 1):
        m = SRT_CUE_RE.fullmatch(block + "\n")
        assert m and int(m.group(1)) == k, block
        out.append((_seconds(*m.group(2, 3, 4, 5)), _seconds(*m.group(6, 7, 8, 9)), m.group(10)))
    return out


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    """WebVTT read back strictly: the WEBVTT header line, then cues separated by blank lines."""
    assert text.startswith("WEBVTT\n\n")
    blocks = text[len("WEBVTT\n\n"):].split("\n\n")
    assert blocks[-1] == ""
    out = []
    for block in blocks[:-1]:
        m = VTT_CUE_RE.fullmatch(block + "\n")
        assert m and "-->" not in m.group(9) and "<" not in m.group(9), block
        out.append((_seconds(*m.group(1, 2, 3, 4)), _seconds(*m.group(5, 6, 7, 8)), m.group(9)))
    return out


def test_cues_are_short_split_at_punctuation_and_keep_every_word():
    words = _words(PARAGRAPH + " " + PARAGRAPH)
    made = cues(words)
    assert all(width(c.text) <= MAX_CUE_WIDTH and c.end_s - c.start_s <= MAX_CUE_S for c in made)
    assert " ".join(c.text for c in made) == " ".join((PARAGRAPH + " " + PARAGRAPH).split())
    # cut at the comma and the sentence end, not mid-clause: "Please arrive early." is a cue of its own
    assert "Please arrive early." in [c.text for c in made]
    assert all(a.end_s <= b.start_s for a, b in zip(made, made[1:]))


def test_a_long_clause_without_punctuation_is_cut_between_words():
    text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen"
    made = cues(_words(text))
    assert len(made) >= 2 and all(width(c.text) <= MAX_CUE_WIDTH for c in made)
    assert " ".join(c.text for c in made) == text


def test_slow_words_are_cut_by_time():
    made = cues(_words("a b c d e f g h i j", seconds_per_word=2.0))
    assert len(made) >= 3 and all(c.end_s - c.start_s <= MAX_CUE_S for c in made)


def test_chinese_cues_count_wide_characters_twice():
    text = "今天天气很好，我们一起去公园散步吧。" * 4
    words = [TimedText(c, k * 0.2, k * 0.2 + 0.15, c) for k, c in enumerate(text)]
    made = cues(words)
    assert all(width(c.text) <= MAX_CUE_WIDTH for c in made)
    assert "".join(c.text for c in made) == text


def test_srt_and_vtt_parse_back_with_the_cues_times_and_text():
    words = _words("Tom & Jerry <live> --> tonight. Second sentence here.")
    made = cues(words)
    srt, vtt = parse_srt(subtitles(words, "srt")), parse_vtt(subtitles(words, "vtt"))
    assert [(round(a, 3), round(b, 3)) for a, b, _ in srt] == [(round(c.start_s, 3), round(c.end_s, 3)) for c in made]
    assert [t for *_, t in srt][0].startswith("Tom & Jerry <live>")
    assert [t for *_, t in vtt][0].startswith("Tom &amp; Jerry &lt;live&gt;")
    assert [(a, b) for a, b, _ in vtt] == [(a, b) for a, b, _ in srt]
    with pytest.raises(ValueError):
        subtitles(words, "ass")


def test_timestamps_past_an_hour_are_written_in_full():
    words = [TimedText("late", 3725.5, 3726.25, "late")]
    assert "01:02:05,500 --> 01:02:06,250" in subtitles(words, "srt")
    assert "01:02:05.500 --> 01:02:06.250" in subtitles(words, "vtt")


# ---------------------------------------------------------------- real speech (model)

def _timed(engine, text: str, **options):
    from indextts.request import SynthesisRequest
    from indextts.timing import synthesis_timing

    request = SynthesisRequest(text, **options)
    result = engine.synthesize(request)
    return result, synthesis_timing(engine, request, result)


@pytest.mark.slow
def test_word_times_follow_the_speech(engine):
    from indextts.audio import speech_bounds

    result, timing = _timed(engine, PARAGRAPH, voice="af_heart")
    words = timing.words
    assert [w.text for w in words] == [t.strip(".,") for t in PARAGRAPH.split()]
    for w in words:
        assert 0.0 <= w.start_s < w.end_s <= result.duration_s + 1e-6, w
    for a, b in zip(words, words[1:]):
        assert a.start_s < b.start_s and a.end_s <= b.start_s + 1e-6, (a, b)
    start, end = speech_bounds(result.audio, result.sample_rate)
    assert abs(words[0].start_s - start / result.sample_rate) < 0.15   # the first word starts with the speech
    assert abs(words[-1].end_s - end / result.sample_rate) < 0.2       # the last word ends with it
    # the money amount spans its whole spoken form: the longest word by far
    money = next(w for w in words if w.text == "$1,250.75")
    assert money.end_s - money.start_s > 2 * max(w.end_s - w.start_s for w in words if w is not money)


@pytest.mark.slow
def test_the_pause_between_sentences_lies_between_their_words(engine):
    result, timing = _timed(engine, "The first sentence ends here. The second one follows.", voice="af_heart",
                            pause_s=1.0)
    here, second = next(w for w in timing.words if w.text == "here"), next(w for w in timing.words if w.text == "The"
                                                                            and w.start_s > 0.5)
    assert second.start_s - here.end_s >= 1.0
    gap = result.audio[int(here.end_s * 24000) + 2400:int(second.start_s * 24000) - 2400]
    assert gap.size and float(np.abs(gap).max()) < 0.02  # what lies between them is the silence
    s1, s2 = timing.segments
    assert s1.end_s <= here.end_s + 0.1 and s2.start_s >= s1.end_s + 1.0 - 1e-3


@pytest.mark.slow
def test_faster_speech_gives_earlier_times(engine):
    text = "Please remember to bring your umbrella because it might rain this afternoon."
    _, normal = _timed(engine, text, voice="af_heart")
    _, fast = _timed(engine, text, voice="af_heart", speed=1.5)
    assert fast.words[-1].end_s < 0.8 * normal.words[-1].end_s
    assert fast.words[5].start_s < 0.8 * normal.words[5].start_s


@pytest.mark.slow
def test_chinese_words_are_timed_in_order(engine):
    result, timing = _timed(engine, "我们明天早上见面。今天天气很好。", voice="zf_xiaobei", pause_s=0.5)
    assert "".join(w.text for w in timing.words) == "我们明天早上见面今天天气很好"
    assert all(a.start_s < b.start_s for a, b in zip(timing.words, timing.words[1:]))
    assert timing.words[-1].end_s <= result.duration_s + 1e-6


# ---------------------------------------------------------------- over HTTP (the real app)

def timed(url: str, **body):
    import httpx
    return httpx.post(f"{url}/v1/audio/speech/timed", json=body, timeout=120)


def test_timed_speech_over_http(live_server):
    import soundfile as sf

    text = "Hello there, world. It costs $1,250.75 today!"
    r = timed(live_server.url, input=text, voice="af_heart", response_format="wav", subtitles="srt")
    assert r.status_code == 200, r.text
    body = r.json()
    audio, sr = sf.read(io.BytesIO(base64.b64decode(body["audio"])))
    assert sr == body["sample_rate"] == 24000 and abs(len(audio) / sr - body["duration_s"]) < 0.01
    words = body["words"]
    assert [w["text"] for w in words] == ["Hello", "there", "world", "It", "costs", "$1,250.75", "today"]
    assert all(0 <= w["start_s"] < w["end_s"] <= body["duration_s"] for w in words)
    assert all(a["end_s"] <= b["start_s"] for a, b in zip(words, words[1:]))
    assert [s["text"] for s in body["segments"]] == ["Hello there, world.", "It costs $1,250.75 today!"]
    cues = parse_srt(body["subtitles"])
    assert " ".join(t for *_, t in cues) == text
    assert cues[0][0] == pytest.approx(words[0]["start_s"], abs=0.002)

    vtt = timed(live_server.url, input="Short one.", response_format="mp3", subtitles="vtt").json()
    assert parse_vtt(vtt["subtitles"])[0][2] == "Short one."
    assert timed(live_server.url, input="Hi.", response_format="wav").json()["subtitles"] is None


@pytest.mark.parametrize("body,fragment,param", [
    ({"input": "Hi.", "subtitles": "ass"}, "subtitles", "subtitles"),
    ({"input": "Hi.", "stream": True, "response_format": "pcm"}, "stream", "stream"),
    ({"input": "   "}, "empty", "input"),
], ids=["subtitle format", "stream", "empty input"])
def test_timed_speech_refuses_bad_requests_with_the_field_named(live_server, body, fragment, param):
    from http_checks import assert_openai_error

    assert_openai_error(timed(live_server.url, **body), 400, fragment, param)


def test_the_page_saves_subtitles_beside_each_generated_clip(live_server):
    from gradio_client import Client

    text = "Hello there, world. See you at nine."
    Client(live_server.url + "/", verbose=False).predict(text, "af_heart", 1.0, "auto", 400, 0.25, "wav", "en",
                                                        api_name="/synthesize")
    sidecars = sorted(live_server.outputs.glob("*/*.json"), key=lambda p: p.stat().st_mtime)
    newest = next(p for p in reversed(sidecars) if '"source": "ui"' in p.read_text())
    srt, vtt = newest.with_suffix(".srt"), newest.with_suffix(".vtt")
    assert " ".join(t for *_, t in parse_srt(srt.read_text(encoding="utf-8"))) == text
    assert " ".join(t for *_, t in parse_vtt(vtt.read_text(encoding="utf-8"))) == text
