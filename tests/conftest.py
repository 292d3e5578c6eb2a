"""Shared fixtures: the model and the ASR are loaded once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from indextts.config import Settings

ROOT = Path(__file__).resolve().parent.parent

# Fixtures that load the model or the ASR, start an app process, a browser or an S3 server, or build weights.
# A test that uses none of them, directly or through another fixture, and is not marked slow, is ``fast``:
# ./run_tests.sh --fast runs those (the edit-test loop); the full suite stays the CI default.
HEAVY_FIXTURES = frozenset({
    "engine", "float_model", "gpu_engine", "gpu_models", "asr", "onnx_path",  # the model, the ASR, the ONNX
    "live_server", "fresh_server", "launcher", "foreign_listener",  # processes: the app, start_app.sh
    "browser", "s3", "hub",  # Chromium, the S3 server, a private cache_hub built from the packages
})


def pytest_collection_modifyitems(config, items) -> None:
    """Marks the fast tier (``HEAVY_FIXTURES``); tests marked ``cuda`` run only where PyTorch sees a GPU."""
    import torch

    for item in items:
        if item.get_closest_marker("slow") is None and not HEAVY_FIXTURES.intersection(item.fixturenames):
            item.add_marker(pytest.mark.fast)
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="no CUDA GPU visible to PyTorch")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def settings(tmp_path_factory) -> Settings:
    glossary = tmp_path_factory.mktemp("glossary") / "glossary.yaml"  # empty: never the checkout's own readings
    return Settings.load(environ={}, overrides={"engine": {"device": "cpu", "threads": 2},
                                                "paths": {"glossary": str(glossary)}})


@pytest.fixture(scope="session")
def engine(settings):
    from indextts.engine import Engine

    return Engine.load(settings, warm_up=False)


@pytest.fixture(scope="session")
def float_model(settings):
    """The float32 model (no int8): the reference the int8 engine is held to."""
    from indextts.model import load_model
    from indextts.model.int8 import Int8Conv1d, Int8Linear
    from indextts.weights import ensure_weights

    paths = ensure_weights(settings.paths.cache_hub)
    model = load_model(paths.model, paths.config, device="cpu", int8=False)
    assert not any(isinstance(m, (Int8Conv1d, Int8Linear)) for m in model.modules())
    return model


@pytest.fixture(scope="session")
def onnx_path(settings) -> Path:
    """The shipped int8 ONNX, assembled from its pip packages (a reference for parity)."""
    from indextts.weights.package_data import assemble_onnx

    return assemble_onnx(settings.paths.cache_hub / ".build" / "kokoro-v1.0.int8.onnx")


@pytest.fixture(scope="session")
def asr():
    """(transcribe(audio, sr, lang), normalize(text, lang)) backed by the bundled Whisper base."""
    from indextts.evaluation.asr import normalize_en, normalize_zh, transcribe

    def normalize(text: str, lang: str) -> str:
        return normalize_en(text) if lang == "en" else normalize_zh(text)

    return transcribe, normalize


# ---------------------------------------------------------------- the browser
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (``playwright install`` cannot download browsers here);
    skips the test where either is missing."""
    if not CHROMIUM.exists():
        pytest.skip("needs Chromium: apt-get install -y --no-install-recommends chromium chromium-driver")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs: pip install playwright==1.65.2")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# ---------------------------------------------------------------- server fixtures
# The app under test is the real `python app.py` process (one per session), plus
# in-process apps (create_app + fake engines) for states a real model cannot be
# held in on demand: still loading, queue full, auth, retention.

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import types


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_ready(base_url: str, proc: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
    state = f"exited with {proc.returncode}" if proc.poll() is not None else f"not ready after {timeout_s:.0f} s"
    raise RuntimeError(f"app.py {state}; log tail:\n{tail}")


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def clean_env(*prefixes: str) -> dict[str, str]:
    """This process's environment without the outer INDEXTTS_ settings (a developer's shell may set some) and
    without the variables starting with ``prefixes`` (e.g. "AWS_": no credentials)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("INDEXTTS_", *prefixes))}


def app_env(tmp: Path) -> dict[str, str]:
    """The environment for a `python app.py` of a test's own: no outer INDEXTTS_ settings, outputs, logs,
    voices and the glossary under ``tmp``, the repo's weights."""
    env = clean_env()
    env.update(INDEXTTS_PATHS__OUTPUTS=str(tmp / "outputs"), INDEXTTS_PATHS__CACHE_HUB=str(ROOT / "cache_hub"),
               INDEXTTS_PATHS__LOGS=str(tmp / "logs"), INDEXTTS_PATHS__VOICES=str(tmp / "voices"),
               INDEXTTS_PATHS__GLOSSARY=str(tmp / "glossary.yaml"), INDEXTTS_PATHS__PRESETS=str(tmp / "presets"),
               PYTHONUNBUFFERED="1")
    return env


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """`python app.py` on a free port (own outputs dir, the repo's weights); yields an object with
    .url, .outputs, .log and .proc. Ready (/readyz 200) before the first test uses it."""
    tmp = tmp_path_factory.mktemp("live_server")
    port = free_port()
    env = app_env(tmp)
    command = [sys.executable, "app.py", "--port", str(port), "--device", "cpu", "--threads", "2"]
    log_path = tmp / "app.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base_url, proc, log_path, timeout_s=120)
        yield types.SimpleNamespace(url=base_url, outputs=tmp / "outputs", log=log_path, proc=proc, port=port)
    finally:
        stop_process(proc)
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-20:])
    assert proc.returncode == 0, (
        f"app.py did not stop cleanly on SIGTERM (exit {proc.returncode}); log tail:\n{tail}")


def wait_until(condition, timeout_s: float = 5.0, every_s: float = 0.01) -> bool:
    """Poll ``condition`` until it is true or ``timeout_s`` passes; its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return condition()


@contextlib.contextmanager
def serving(app):
    """``app`` (an in-process app) behind a real uvicorn socket server in a thread; yields its base URL."""
    import threading

    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           timeout_graceful_shutdown=1))  # a client's SSE stream stays open
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: server.started, 30, 0.05), "uvicorn did not start"
        assert app.state.holder.wait(10)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)



@pytest.fixture
def make_app(tmp_path, monkeypatch):
    """Build an in-process app: make_app(server={...}, outputs={...}, loader=...) -> (app, settings); the
    default loader gives it a ``FakeEngine`` (tests/fake_engine.py: no model)."""
    from fake_engine import FakeEngine
    from indextts.server.app import create_app
    from indextts.server.engine_holder import EngineHolder

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))  # restored after the test

    def build(loader=lambda settings: FakeEngine(), **sections):
        paths = {"outputs": str(tmp_path / "outputs"), "voices": str(tmp_path / "voices"),
                 "logs": str(tmp_path / "logs"), "glossary": str(tmp_path / "glossary.yaml"),
                 "presets": str(tmp_path / "presets")}
        settings = Settings.load(environ={}, overrides={"paths": paths, **sections})
        return create_app(settings, EngineHolder(settings, loader=loader)), settings

    return build


@contextlib.contextmanager
def ready_page(browser, url: str, tab: str | None = None, **context_options):
    """A page of the app at ``url`` in a fresh browser context (English unless ``locale`` is given), once the
    status line says ready, on ``tab`` (its label) when given; the context is closed afterwards."""
    from playwright.sync_api import expect

    context = browser.new_context(**{"locale": "en-US", **context_options})
    try:
        page = context.new_page()
        page.goto(url + "/")
        expect(page.locator("#status-line")).to_contain_text("ready", timeout=30_000)
        if tab:
            page.locator(f"button[role=tab]:has-text('{tab}')").first.click()
        yield page
    finally:
        context.close()
