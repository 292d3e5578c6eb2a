"""A stand-in for the engine in in-process apps (``make_app`` in conftest): no model, real voice bank and studio."""

from __future__ import annotations

import tempfile
import time
import types
from pathlib import Path

import numpy as np
import torch

from indextts.engine import SegmentResult, SynthesisResult
from indextts.errors import InputError
from indextts.glossary_store import GlossaryStore
from indextts.request import SynthesisRequest
from indextts.voice_library import VoiceLibrary
from indextts.voice_studio import VoiceStudio
from indextts.voices import Voice, VoiceBank


# Half a second (20 frames of 25 ms) over the three tokens and the two boundary zeros; no words to time.
FAKE_PROSODY = types.SimpleNamespace(f0=torch.zeros(40), frames=torch.tensor([4, 4, 4, 4, 4]))


class FakeEngine:
    """Stands in for the model: half a second of tone per sentence, each optionally slow (real voice bank,
    blank packs). ``rendered`` counts the segments made, so tests can see work stop. The glossary is a real
    store (its own temp file unless ``glossary_path`` is given) and ``words`` the real text frontend's."""

    device = "cpu"
    precision = "fp32"
    default_voices = {"en": "jm_kumo", "zh": "jm_kumo"}

    def default_voice(self, text: str = "", lang: str = "auto") -> str:
        return "jm_kumo"

    def __init__(self, delay_s: float = 0.0, glossary_path: Path | None = None) -> None:
        self.delay_s = delay_s
        self.rendered = 0
        self.glossary = GlossaryStore(glossary_path or Path(tempfile.mkdtemp(prefix="fake-engine-")) / "glossary.yaml")
        self._frontend = None  # the real text frontend, built when words() is first asked for
        library = VoiceLibrary(Path(tempfile.mkdtemp(prefix="fake-engine-voices-")))
        self.voices = VoiceBank({name: torch.zeros(510, 1, 256) for name in ("jf_alpha", "jm_kumo")}, library)
        self.studio = VoiceStudio(self)  # the real studio: saving and blending work on the blank packs

    def segments(self, request, **options):
        request = SynthesisRequest.of(request, **options)
        if "forbidden" in request.text:
            raise InputError("the engine refused this text")
        return [types.SimpleNamespace(text=part.strip() + ".", lang="en", phonemes="", tokens=(1, 2, 3), words=())
                for part in request.text.split(".") if part.strip()]

    def words(self, text, lang="auto"):
        from indextts.text import Frontend

        self._frontend = self._frontend or Frontend()
        return self._frontend.words(text, lang, glossary=self.glossary.entries())

    def resolve_voice(self, request):
        return request.voice if isinstance(request.voice, Voice) else self.voices.resolve(request.voice or "jm_kumo")

    def stream(self, request, **options):
        request = SynthesisRequest.of(request, **options)
        resolved = self.resolve_voice(request)
        segments = self.segments(request)

        def render():
            for segment in segments:
                time.sleep(self.delay_s)
                self.rendered += 1
                audio = (0.2 * np.sin(np.arange(12000) * 2 * np.pi * 440 / 24000)).astype(np.float32)
                yield SegmentResult(segment.text, segment.lang, resolved.name, segment.tokens, audio, 0.0,
                                    FAKE_PROSODY, self.delay_s)
        return render()

    def stream_pieces(self, segments, pause_s=None):
        return (segment.audio for segment in segments)

    def join(self, segments, pause_s=None, compute_s=None):
        audio = np.concatenate([s.audio for s in segments]) if segments else np.zeros(0, np.float32)
        return SynthesisResult(audio, 24000, list(segments), compute_s if compute_s is not None else 0.05)

    def synthesize(self, request, **options):
        return self.join(list(self.stream(request, **options)))
