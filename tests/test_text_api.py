"""The text API over real HTTP: ``POST /v1/text/phonemize`` and the glossary (``/v1/glossary``: list, add or
replace, delete, import and export as CSV or YAML). In-process apps with the fake engine (a real glossary file
and the real text frontend's words, no model) behind a real socket; one test against the real app."""

from __future__ import annotations

import httpx
import pytest
import yaml

from conftest import serving
from fake_engine import FakeEngine
from http_checks import assert_openai_error

CSV = "term,lang,reading\n重庆,zh,zhong4 qing4\nKokoro,en,/kˈOkəɹO/\n"


@pytest.fixture
def glossary_app(make_app, tmp_path):
    """(base URL, glossary file) of an app whose engine keeps its glossary in tmp_path/glossary.yaml."""
    path = tmp_path / "glossary.yaml"
    app, _ = make_app(loader=lambda settings: FakeEngine(glossary_path=path))
    with serving(app) as url:
        yield url, path


def words_of(url: str, text: str, lang: str = "auto") -> list[dict]:
    reply = httpx.post(f"{url}/v1/text/phonemize", json={"input": text, "lang": lang}, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()["words"]


def test_an_entry_changes_the_reading_and_is_kept_in_the_file(glossary_app, make_app):
    url, path = glossary_app
    assert httpx.get(f"{url}/v1/glossary").json() == {"entries": []}
    before = [w["pinyin"] for w in words_of(url, "我在重庆。") if w["pinyin"]]
    assert ["chong2", "qing4"] in before, before

    reply = httpx.post(f"{url}/v1/glossary", json={"term": "重庆", "lang": "zh", "reading": "ZHONG4  qing4"})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"entry": {"term": "重庆", "lang": "zh", "reading": "zhong4 qing4"}, "replaced": False}
    after = [w["pinyin"] for w in words_of(url, "我在重庆。") if w["pinyin"]]
    assert ["zhong4", "qing4"] in after and ["chong2", "qing4"] not in after, after

    again = httpx.post(f"{url}/v1/glossary", json={"term": "重庆", "lang": "zh", "reading": "chong2 qing4"})
    assert again.json()["replaced"] is True
    assert httpx.get(f"{url}/v1/glossary").json()["entries"] == [
        {"term": "重庆", "lang": "zh", "reading": "chong2 qing4"}]
    # one YAML file, read back by a new app (a restart)
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == {
        "entries": [{"term": "重庆", "lang": "zh", "reading": "chong2 qing4"}]}
    restarted, _ = make_app(loader=lambda settings: FakeEngine(glossary_path=path))
    with serving(restarted) as second:
        assert httpx.get(f"{second}/v1/glossary").json()["entries"][0]["term"] == "重庆"

    gone = httpx.delete(f"{url}/v1/glossary/重庆")
    assert gone.status_code == 200 and gone.json()["deleted"] is True
    assert_openai_error(httpx.delete(f"{url}/v1/glossary/重庆"), 404, "no glossary entry for '重庆'", "term")
    assert httpx.get(f"{url}/v1/glossary").json() == {"entries": []}


def test_an_edit_on_disk_reaches_the_running_app(glossary_app):
    """The CLI writes the same file: the app reads it again when it changes."""
    url, path = glossary_app
    path.write_text("entries:\n- {term: Kokoro, lang: en, reading: KOH-ko-ro}\n", encoding="utf-8")
    assert httpx.get(f"{url}/v1/glossary").json()["entries"] == [
        {"term": "Kokoro", "lang": "en", "reading": "KOH-ko-ro"}]


@pytest.mark.parametrize(("entry", "param", "fragment"), [
    ({"term": "行", "lang": "zh", "reading": "xing9"}, "reading", "'xing9' has tone 9"),
    ({"term": "行", "lang": "zh", "reading": "xong2"}, "reading", "'xong2' is not a Mandarin syllable"),
    ({"term": "行长", "lang": "zh", "reading": "hang2"}, "reading", "2 Han character(s)"),
    ({"term": "Kokoro", "lang": "en", "reading": "/kˈOk§ɹO/"}, "reading", "'§'"),
    ({"term": "Kokoro", "lang": "fr", "reading": "KOH-ko-ro"}, "lang", "'zh' or 'en'"),
    ({"term": " ", "lang": "en", "reading": "KOH-ko-ro"}, "term", "'term' is required"),
    ({"term": "Kokoro", "lang": "en"}, "reading", "'reading' is required"),
    ({"term": "Kokoro", "lang": "en", "reading": "KOH-ko-ro", "note": 1}, "note", "unknown field 'note'"),
])
def test_bad_entries_are_400s_naming_the_problem(glossary_app, entry, param, fragment):
    url, path = glossary_app
    assert_openai_error(httpx.post(f"{url}/v1/glossary", json=entry), 400, fragment, param)
    assert not path.exists(), "nothing is written for a refused entry"


def test_import_and_export_as_csv_and_yaml(glossary_app):
    url, _ = glossary_app
    reply = httpx.post(f"{url}/v1/glossary/import", content=CSV.encode(), headers={"Content-Type": "text/csv"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["imported"] == 2
    exported = httpx.get(f"{url}/v1/glossary", params={"format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    assert 'filename="glossary.csv"' in exported.headers["content-disposition"]
    assert exported.text == CSV
    as_yaml = httpx.get(f"{url}/v1/glossary", params={"format": "yaml"}).text

    # the YAML export imported with replace=true is the same glossary; a bad row changes nothing
    bad = "term,lang,reading\nNASA,en,NAS-uh\n行,zh,xing9\n"
    error = assert_openai_error(httpx.post(f"{url}/v1/glossary/import", params={"format": "csv"},
                                           content=bad.encode()), 400, "line 3", "file")
    assert "xing9" in error["message"]
    assert len(httpx.get(f"{url}/v1/glossary").json()["entries"]) == 2
    httpx.post(f"{url}/v1/glossary", json={"term": "NASA", "lang": "en", "reading": "NAS-uh"}).raise_for_status()
    replaced = httpx.post(f"{url}/v1/glossary/import", params={"format": "yaml", "replace": "true"},
                          content=as_yaml.encode())
    assert replaced.status_code == 200, replaced.text
    assert [e["term"] for e in replaced.json()["entries"]] == ["重庆", "Kokoro"]
    assert_openai_error(httpx.post(f"{url}/v1/glossary/import", content=b"a,b\n"), 400, "?format=csv", "format")


def test_phonemize_answers_segments_and_words_or_a_400(glossary_app):
    url, _ = glossary_app
    reply = httpx.post(f"{url}/v1/text/phonemize", json={"input": "Hello there. 你好。"}, timeout=60)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) == {"segments", "words"}
    assert all(set(s) == {"text", "lang", "phonemes", "tokens"} for s in body["segments"])
    assert all(set(w) == {"text", "lang", "phonemes", "pinyin"} for w in body["words"])
    langs = {w["lang"]: w for w in body["words"]}
    assert langs["en"]["pinyin"] is None and langs["en"]["phonemes"]
    assert ["ni3", "hao3"] in [w["pinyin"] for w in body["words"]]
    for payload, param, fragment in (({"input": "  "}, "input", "text is empty"),
                                     ({"input": "Hi.", "lang": "fr"}, "lang", "'auto', 'en' or 'zh'"),
                                     ({"text": "Hi."}, "input", "'input' is required"),
                                     ({"input": "[行](xing9)"}, "input", "xing9")):
        assert_openai_error(httpx.post(f"{url}/v1/text/phonemize", json=payload), 400, fragment, param)


def test_the_real_engine_speaks_with_the_glossary(live_server):
    """The real app: an entry changes the phonemes the model is given, in phonemize and in speech."""
    url = live_server.url
    text = "Kokoro speaks."

    def phonemes() -> str:
        reply = httpx.post(f"{url}/v1/text/phonemize", json={"input": text, "lang": "en"}, timeout=60)
        assert reply.status_code == 200, reply.text
        return " ".join(s["phonemes"] for s in reply.json()["segments"])

    def spoken_s() -> float:
        reply = httpx.post(f"{url}/v1/audio/speech", json={"input": text, "response_format": "wav"}, timeout=120)
        assert reply.status_code == 200, reply.text
        return float(reply.headers["X-Audio-Duration"])

    plain, plain_s = phonemes(), spoken_s()
    long_reading = "kˈOkəɹOkəɹOkəɹO"  # three times the word: heard, and timed
    entry = {"term": "Kokoro", "lang": "en", "reading": f"/{long_reading}/"}
    httpx.post(f"{url}/v1/glossary", json=entry, timeout=30).raise_for_status()
    try:
        assert long_reading in phonemes() and long_reading not in plain
        assert spoken_s() > plain_s + 0.3
    finally:
        httpx.delete(f"{url}/v1/glossary/Kokoro", timeout=30)
    assert phonemes() == plain


def test_the_pages_glossary_controls(tmp_path):
    """The page's handlers behind Add / Remove / Import / Export (the browser test drives Add and Remove)."""
    import types

    import gradio as gr

    from indextts.config import Settings
    from indextts.server.outputs import OutputStore
    from indextts.server.ui import _Page

    settings = Settings.load(environ={}, overrides={"paths": {"outputs": str(tmp_path / "outputs")}})
    engine = FakeEngine(glossary_path=tmp_path / "glossary.yaml")
    page = _Page(types.SimpleNamespace(state="ready", engine=engine), settings, OutputStore(settings))
    source = tmp_path / "mine.csv"
    source.write_text(CSV, encoding="utf-8")
    message, table = page.glossary_import(str(source), "en")
    assert message == "Imported 2 entries; the glossary has 2." and table.values.tolist() == [
        ["重庆", "zh", "zhong4 qing4"], ["Kokoro", "en", "/kˈOkəɹO/"]]
    exported = page.glossary_export("yaml", "en")["value"]
    assert yaml.safe_load(open(exported, encoding="utf-8"))["entries"][1]["term"] == "Kokoro"
    assert page.glossary_action("put", "重庆", "zh", "chong2 qing4", "zh")[0] == "已替换：重庆 → chong2 qing4。"
    assert page.glossary_action("delete", "Kokoro", "en", "", "en")[0] == "Removed: Kokoro."
    assert page.glossary_action("delete", "Kokoro", "en", "", "en")[0] == "Kokoro is not in the glossary."
    with pytest.raises(gr.Error, match="tone 9"):
        page.glossary_action("put", "行", "zh", "xing9", "en")
    with pytest.raises(gr.Error, match="line 2"):
        bad = tmp_path / "bad.csv"
        bad.write_text("term,lang,reading\n行,zh,xing9\n", encoding="utf-8")
        page.glossary_import(str(bad), "en")
    assert [e.term for e in engine.glossary.entries()] == ["重庆"]
