"""Reading SRT and WebVTT files as real ones come: encodings, line ends, optional parts, markup; and bad files
refused with the line at fault."""

from __future__ import annotations

import re

import pytest

from indextts.errors import InputError
from indextts.subtitle_parse import parse_subtitles, plain_text
from indextts.subtitles import Cue, to_srt, to_vtt


def cues(data) -> list[tuple[float, float, str]]:
    return [(c.start_s, c.end_s, c.text) for c in parse_subtitles(data).cues]


SRT = ("1\n00:00:01,000 --> 00:00:02,500\nHello there.\n\n"
       "2\n00:00:03,250 --> 00:00:05,000\nSecond line,\nwrapped.\n")
EXPECTED = [(1.0, 2.5, "Hello there."), (3.25, 5.0, "Second line, wrapped.")]


@pytest.mark.parametrize("data", [
    SRT,
    SRT.encode("utf-8"),
    "\ufeff" + SRT,
    SRT.encode("utf-8-sig"),
    SRT.replace("\n", "\r\n").encode("utf-8-sig"),
    SRT.replace("\n", "\r"),
    SRT.encode("utf-16"),
    SRT.replace("1\n00", "00").replace("2\n00", "00"),  # no index lines
    re.sub(r"(\d),(\d)", r"\1.\2", SRT),  # '.' before the milliseconds
    "\n\n" + SRT + "\n\n\n",  # blank lines around
], ids=["str", "utf-8", "bom str", "bom", "crlf bom", "cr", "utf-16", "no index", "dot millis", "padding"])
def test_srt_variants_read_the_same(data):
    parsed = parse_subtitles(data)
    assert parsed.format == "srt" and cues(data) == EXPECTED and parsed.skipped_empty == 0


def test_webvtt_with_header_blocks_identifiers_settings_and_short_times():
    vtt = ("WEBVTT - Episode 1\nKind: captions\nLanguage: en\n\n"
           "NOTE written by hand\nspans two lines\n\n"
           "STYLE\n::cue { color: yellow }\n\n"
           "REGION\nid:fred width:40%\n\n"
           "intro\n00:01.000 --> 00:02.500 align:start line:0 position:10%\n<v Roger Bingham>Hello there.\n\n"
           "01:00:03.250 --> 01:00:05.000\n<c.yellow>Second</c> <00:00:04.000><i>line</i>,\nwrapped.\n")
    parsed = parse_subtitles(vtt)
    assert parsed.format == "vtt"
    assert cues(vtt) == [(1.0, 2.5, "Hello there."), (3603.25, 3605.0, "Second line, wrapped.")]
    assert parsed.cue_lines == (15, 18)  # the lines of their times


def test_markup_entities_and_ass_overrides_are_stripped():
    assert plain_text("{\\an8}<i>Tom &amp; Jerry</i>&nbsp;&lt;3 <b>now</b>") == "Tom & Jerry <3 now"
    assert plain_text("<font color=\"#ff0\">Yes</font>\\Nno") == "Yes no"
    assert plain_text("<ruby>漢<rt>kan</rt></ruby>字") == "漢字"
    assert plain_text("<b.loud>Stop</b> <00:01.250>now, a < b > c <today>") == "Stop now, a < b > c <today>"


def test_sound_descriptions_are_not_spoken_but_reading_annotations_are_kept():
    assert plain_text("[MUSIC PLAYING] Hello, [door slams] friend.") == "Hello, friend."
    assert plain_text("【笑】我们[行](xing2)吧") == "我们[行](xing2)吧"
    subs = parse_subtitles("1\n00:00:01,000 --> 00:00:02,000\n[applause]\n\n2\n00:00:03,000 --> 00:00:04,000\nThanks.\n")
    assert [c.text for c in subs.cues] == ["Thanks."] and subs.skipped_empty == 1


def test_cues_with_no_text_are_skipped_and_counted():
    srt = SRT + ("\n3\n00:00:06,000 --> 00:00:07,000\n<i> </i>\n\n4\n00:00:08,000 --> 00:00:09,000\n{\\an8}\n"
                 "\n5\n00:00:10,000 --> 00:00:11,000\n♪ ♪\n")
    parsed = parse_subtitles(srt)
    assert len(parsed.cues) == 2 and parsed.skipped_empty == 3


def test_cues_out_of_order_are_read_in_time_order():
    srt = "1\n00:00:05,000 --> 00:00:06,000\nLater.\n\n2\n00:00:01,000 --> 00:00:02,000\nEarlier.\n"
    assert [c[2] for c in cues(srt)] == ["Earlier.", "Later."]


def test_what_the_app_writes_reads_back():
    made = [Cue(0.021, 1.5, "It costs $5 & more <today>."), Cue(2.0, 3.25, "你好，世界。")]
    for text in (to_srt(made), to_vtt(made)):
        assert [(c.start_s, c.end_s, c.text) for c in parse_subtitles(text).cues] == \
            [(c.start_s, c.end_s, c.text) for c in made]


@pytest.mark.parametrize("data,message", [
    ("", "the subtitle file is empty"),
    ("  \n\r\n ", "the subtitle file is empty"),
    ("Dear diary,\ntoday was fine.\n", "line 1: not a subtitle file"),
    ("\n\n{\"input\": \"hi\"}", "line 3: not a subtitle file"),
    ("1\n00:00:05,000 --> 00:00:04,000\nHi\n", "line 2: the cue ends (00:00:04.000) before it starts (00:00:05.000)"),
    ("1\n00:00:01,000 --> 00:00:02,000\nOk\n\n2\n00:00:01 --> soon\nHi\n", "line 6: cannot read the cue times"),
    ("1\n00:00:01,000 --> 00:00:02,000\nOk\n\n2\n00:00:61,000 --> 00:01:02,000\nHi\n", "line 6: minutes and seconds"),
    ("1\n00:00:01,000 --> 00:00:02,000\nOk\n\n2\n\nHi\n", "line 5: cue 2 has no times"),
    ("1\n00:00:01,000 --> 00:00:02,000\nOk\n\nStray text\n", "line 5: text with no cue times"),
    ("WEBVTT\n00:01.000 --> 00:02.000\nHi\n", "line 2: WebVTT needs a blank line"),
    (b"1\n00:00:01,000 --> 00:00:02,000\n\xff\xfeHi\n".replace(b"\xff\xfe", b"\xe9t\xe9"), "line 3: "
     "the subtitle file is not UTF-8"),
], ids=["empty", "blank", "prose", "json", "end before start", "bad times", "61 seconds", "number only",
        "stray text", "vtt header", "latin-1"])
def test_bad_files_name_the_line_and_the_fault(data, message):
    with pytest.raises(InputError) as err:
        parse_subtitles(data, field="file")
    assert message in str(err.value) and err.value.field == "file"
