"""Readings the user sets: inline annotations, glossary entries, and the words the frontend reads."""
import pytest

from indextts.errors import InputError
from indextts.text import Frontend
from indextts.text.annotations import parse_annotations
from indextts.text.glossary import GlossaryEntry, annotate, check_entry


@pytest.fixture(scope="module")
def fe():
    return Frontend()


def _pinyin(fe, text, **kw):
    return [(w.text, w.pinyin) for w in fe.words(text, **kw) if w.lang == "zh"]


# -- inline annotations ------------------------------------------------------------------------
def test_chinese_annotation_forces_the_reading_and_keeps_the_rest(fe):
    plain = fe.segments("他是银行行长。")[0]
    forced = fe.segments("他是银行[行](xing2)长。")[0]
    assert forced.text == "他是银行行长。"                     # no markup in the segment's text
    assert "ɕi↗ŋ" in forced.phonemes and "ɕi↗ŋ" not in plain.phonemes
    assert forced.phonemes.split()[:2] == plain.phonemes.split()[:2]   # 他是 reads as before
    assert ("银行行长", ("yin2", "hang2", "xing2", "zhang3")) in _pinyin(fe, "他是银行[行](xing2)长。")


def test_two_syllable_annotation_and_digits_read_as_given(fe):
    assert ("长大", ("zhang3", "da4")) in _pinyin(fe, "孩子[长大](zhang3 da4)了。")
    seg = fe.segments("今年是[2024](er4 ling2 er4 si4)年。")[0]
    assert seg.text == "今年是2024年。"
    assert "ɚ↘li↗ŋɚ↘sɨ↘" in seg.phonemes                   # not 二千零二十四 (normalization skipped)
    assert ("2024", ("er4", "ling2", "er4", "si4")) in _pinyin(fe, "今年是[2024](er4 ling2 er4 si4)年。")


def test_english_annotation_phonemes_verbatim_and_respelling(fe):
    seg = fe.segments("I love [Kokoro](/kˈOkəɹO/) a lot.")[0]
    assert seg.text == "I love Kokoro a lot."
    assert seg.phonemes.startswith("ˌI lˈʌv kˈOkəɹO ")
    respelled = fe.segments("I love [Kokoro](koh-KOH-ro) a lot.")[0].phonemes.split()[2]
    assert respelled.count("ˈ") == 1 and respelled.index("ˈ") > respelled.index("O")  # stress on the 2nd syllable


def test_malformed_annotations_are_refused_by_name(fe):
    cases = {"[行](xing9)": "xing9", "走[行](": "[行](", "[行](xyz2)": "xyz2", "[长大](zhang3)": "1 syllable",
             "[行](xing)": "pinyin with tone numbers", "[Kokoro](/kˈO€/)": "€", "[link](x.org)": "not a reading"}
    for text, named in cases.items():
        with pytest.raises(InputError) as e:
            fe.segments(text)
        assert e.value.field == "text" and named in str(e.value), text


def test_a_markdown_link_is_read_as_its_text(fe):
    text = "Read [the guide](https://example.org/guide) or [mail us](mailto:a@b.org), see [below](#faq)."
    assert parse_annotations(text) == ("Read the guide or mail us, see below.", ())
    assert fe.segments(text)[0].text == "Read the guide or mail us, see below."


def test_brackets_not_followed_by_a_paren_are_ordinary_text():
    assert parse_annotations("see [1] and [笑] and [sic] (2019)") == ("see [1] and [笑] and [sic] (2019)", ())


def test_overrides_survive_segment_splitting(fe):
    text = "[hello, there](/həlˈO ðˈɛɹ/) my good friends, and [New York](/nˈu jˈɔɹk/) is a big old city."
    segs = fe.segments(text, max_tokens=12)
    assert len(segs) > 2
    assert any(s.text.startswith("hello, there") for s in segs)          # never cut at its comma
    assert any("New York" in s.text for s in segs)                       # never cut at its space
    joined = " ".join(s.phonemes for s in segs)
    assert "həlˈO ðˈɛɹ" in joined and "nˈu jˈɔɹk" in joined
    zh = fe.segments("我们说[长大](zhang3 da4)以后的事情，大家都同意了。", max_tokens=6)
    assert any("长大" in s.text for s in zh) and all(s.text.count("长") == s.text.count("大") for s in zh if "长" in s.text)


# -- glossary --------------------------------------------------------------------------------
def test_glossary_longest_match_whole_words_and_case():
    entries = [check_entry("行", "zh", "xing2"), check_entry("行长", "zh", "hang2  Zhang3"),
               check_entry("Kokoro", "en", "/kˈOkəɹO/"), check_entry("iOS", "en", "eye oh ess")]
    assert entries[1] == GlossaryEntry("行长", "zh", "hang2 zhang3")      # normalized
    out = annotate("行长说 kokoro's KOKORO, Kokoros, ios 和 iOS。[行](hang2)", entries)
    assert out == ("[行长](hang2 zhang3)说 [kokoro](/kˈOkəɹO/)'s [KOKORO](/kˈOkəɹO/), Kokoros, ios 和 "
                   "[iOS](eye oh ess)。[行](hang2)")
    assert annotate("Kokoro很好", entries) == "[Kokoro](/kˈOkəɹO/)很好"    # Han next to Latin is a boundary


def test_glossary_never_hides_a_malformed_annotation(fe):
    with pytest.raises(InputError, match="not closed"):
        fe.segments("他是[行长](", glossary=[check_entry("行长", "zh", "hang2 zhang3")])


def test_glossary_applies_in_segments_and_words(fe):
    glossary = [check_entry("行长", "zh", "xing2 zhang3")]
    seg = fe.segments("行长来了。", glossary=glossary)[0]
    assert seg.text == "行长来了。" and seg.phonemes.startswith("ɕi↗ŋ")
    assert _pinyin(fe, "行长来了。", glossary=glossary)[0] == ("行长", ("xing2", "zhang3"))


def test_bad_glossary_readings_are_named():
    cases = [(("行", "zh", "xing9"), "reading", "xing9"), (("行", "zh", "xyz2"), "reading", "xyz2"),
             (("长大", "zh", "zhang3"), "reading", "1 syllable"), (("x", "en", "/kˈO€/"), "reading", "€"),
             (("行", "en", "xing2"), "reading", "en reading"), (("行", "xx", "xing2"), "lang", "xx"),
             ((" ", "zh", "a1"), "term", "empty"), (("a[b]", "en", "bee"), "term", "bracket")]
    for args, field, named in cases:
        with pytest.raises(InputError) as e:
            check_entry(*args)
        assert e.value.field == field and named in str(e.value), args


# -- plain text is read exactly as before ----------------------------------------------------------
def test_plain_text_unchanged_with_an_empty_glossary(fe):
    for text in ("Hello world, this is the WHO on 2024-03-15.", "我长大了以后要去银行当行长，还要还钱。",
                 "他用iPhone写了一行代码，价格是¥1,299元。"):
        assert fe.segments(text, glossary=()) == fe.segments(text)
        assert [s.phonemes for s in fe.segments(text, glossary=[check_entry("zzz", "en", "zee")])] == \
               [s.phonemes for s in fe.segments(text)]


# -- words -----------------------------------------------------------------------------------
def test_words_of_a_mixed_sentence_with_a_polyphone(fe):
    words = fe.words("我用Python在银行工作，长大了。")
    by_text = {w.text: w for w in words}
    assert by_text["银行"].pinyin == ("yin2", "hang2")
    assert by_text["长大"].pinyin == ("zhang3", "da4")
    assert by_text["Python"].lang == "en" and by_text["Python"].pinyin is None
    assert "".join(w.text for w in words) == "我用Python在银行工作长大了"        # reading order
    phonemes = fe.segments("我用Python在银行工作，长大了。")[0].phonemes
    assert all(w.phonemes in phonemes for w in words)                    # the segments' path
    english = fe.words("It costs $5.")
    assert [w.text for w in english] == ["It", "costs", "five", "dollars"]   # after normalization
