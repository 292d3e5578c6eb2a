"""python -m indextts as a user runs it: real subprocesses, real files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, stdin: str | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "INDEXTTS_ENGINE__DEVICE": "cpu", "INDEXTTS_ENGINE__THREADS": "2"}
    return subprocess.run(
        [sys.executable, "-m", "indextts", *args],
        cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=timeout, env=env,
    )


@pytest.mark.slow
def test_synth_writes_a_wav_from_stdin(tmp_path):
    out = tmp_path / "speech.wav"
    proc = run("synth", "-o", str(out), "--voice", "jf_alpha", stdin="Reading from standard input works.")
    assert proc.returncode == 0, proc.stderr
    audio, rate = sf.read(out)
    assert rate == 24000 and audio.ndim == 1
    assert 1.0 < len(audio) / rate < 5.0
    assert "RTF" in proc.stdout and not list(tmp_path.glob(".speech*"))  # no temp file left behind


@pytest.mark.slow
def test_synth_reads_a_file_and_writes_flac(tmp_path):
    text_file = tmp_path / "text.txt"
    text_file.write_text("第一句。Second sentence.", encoding="utf-8")
    out = tmp_path / "speech.flac"
    proc = run("synth", "-f", str(text_file), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert sf.info(out).format == "FLAC"
    assert "[1] zh" in proc.stdout and "[2] en" in proc.stdout


@pytest.mark.slow
def test_list_voices():
    proc = run("synth", "--list-voices")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split(maxsplit=1) for line in proc.stdout.splitlines()]
    names = [row[0] for row in rows]
    assert len(names) == 54 and names == sorted(names) and {"af_heart", "zf_xiaobei", "jm_kumo"} <= set(names)
    assert dict(rows)["af_heart"].split() == ["American", "English", "female"]
    assert dict(rows)["zm_yunxi"].split() == ["Mandarin", "male"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("synth", "Hello.", "-o", "/nonexistent-folder/x.wav"), "output folder does not exist"),
        (("synth", "Hello.", "-o", "speech.xyz"), "unsupported output format '.xyz'"),
        (("synth", "Hello."), "missing -o/--output"),
    ],
)
def test_output_problems_fail_fast_with_exit_2(args, message):
    proc = run(*args, timeout=60)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_bad_text_and_voice_exit_2(tmp_path):
    empty = run("synth", "-o", str(tmp_path / "a.wav"), stdin="  \n")
    assert empty.returncode == 2 and "text is empty" in empty.stderr
    voice = run("synth", "Hi.", "-o", str(tmp_path / "b.wav"), "--voice", "nobody")
    assert voice.returncode == 2 and "unknown voice 'nobody'" in voice.stderr
    assert not (tmp_path / "a.wav").exists() and not (tmp_path / "b.wav").exists()


def test_bad_settings_exit_2(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("engine:\n  speed_of_light: 3\n", encoding="utf-8")
    proc = run("--config", str(config), "synth", "Hi.", "-o", str(tmp_path / "x.wav"), timeout=60)
    assert proc.returncode == 2 and "engine.speed_of_light" in proc.stderr


# ---------------------------------------------------------------- phonemize and the glossary
def run_with_glossary(glossary: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """python -m indextts with the glossary file at ``glossary`` (never the checkout's own)."""
    env = {**os.environ, "INDEXTTS_ENGINE__DEVICE": "cpu", "INDEXTTS_ENGINE__THREADS": "2",
           "INDEXTTS_PATHS__GLOSSARY": str(glossary)}
    return subprocess.run([sys.executable, "-m", "indextts", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_glossary_commands_and_phonemize_read_one_file(tmp_path):
    glossary = tmp_path / "glossary.yaml"
    plain = run_with_glossary(glossary, "phonemize", "我在重庆。")
    assert plain.returncode == 0, plain.stderr
    assert "chong2 qing4" in plain.stdout and "[1] zh" in plain.stdout

    added = run_with_glossary(glossary, "glossary", "add", "重庆", "zh", "zhong4 qing4")
    assert added.returncode == 0 and "added: 重庆 (zh) -> zhong4 qing4" in added.stdout, added.stderr
    assert run_with_glossary(glossary, "glossary", "list").stdout == "重庆\tzh\tzhong4 qing4\n"
    read = run_with_glossary(glossary, "phonemize", "我在重庆。")
    assert "zhong4 qing4" in read.stdout and "chong2 qing4" not in read.stdout, read.stdout

    exported = tmp_path / "out.csv"
    assert run_with_glossary(glossary, "glossary", "export", str(exported)).returncode == 0
    assert exported.read_text(encoding="utf-8") == "term,lang,reading\n重庆,zh,zhong4 qing4\n"
    removed = run_with_glossary(glossary, "glossary", "remove", "重庆")
    assert removed.returncode == 0 and run_with_glossary(glossary, "glossary", "list").stdout == ""
    imported = run_with_glossary(glossary, "glossary", "import", str(exported))
    assert imported.returncode == 0 and "imported 1 entries" in imported.stdout, imported.stderr
    assert run_with_glossary(glossary, "glossary", "list").stdout == "重庆\tzh\tzhong4 qing4\n"


@pytest.mark.parametrize(("args", "message"), [
    (("glossary", "add", "行", "zh", "xing9"), "'xing9' has tone 9"),
    (("glossary", "add", "Kokoro", "en", "/kˈOk§ɹO/"), "'§'"),
    (("glossary", "remove", "nothing"), "no glossary entry for 'nothing'"),
    (("glossary", "import", "/nonexistent/g.csv"), "cannot read /nonexistent/g.csv"),
    (("glossary", "export", "g.txt"), "name it .csv or .yaml"),
    (("phonemize", "[行](xing9)"), "xing9"),
])
def test_glossary_and_phonemize_mistakes_exit_2(tmp_path, args, message):
    proc = run_with_glossary(tmp_path / "glossary.yaml", *args)
    assert proc.returncode == 2, proc.stdout
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "glossary.yaml").exists()


@pytest.mark.slow
def test_synth_speaks_with_the_glossary(tmp_path):
    glossary = tmp_path / "glossary.yaml"
    def spoken_s(name: str) -> float:
        out = tmp_path / name
        proc = run_with_glossary(glossary, "synth", "Kokoro speaks.", "-o", str(out), "-q", timeout=240)
        assert proc.returncode == 0, proc.stderr
        return sf.info(out).duration

    plain = spoken_s("plain.wav")
    assert run_with_glossary(glossary, "glossary", "add", "Kokoro", "en", "/kˈOkəɹOkəɹOkəɹO/").returncode == 0
    assert spoken_s("glossary.wav") > plain + 0.3  # the term read three times over
