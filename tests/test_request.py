"""The engine's request shape: one frozen value, checked when it is built (no model needed)."""

from __future__ import annotations

import dataclasses
import sys
import subprocess

import pytest

from indextts.emotion import spec_from_request
from indextts.errors import InputError
from indextts.request import SynthesisRequest


def test_a_request_is_checked_when_built_and_names_the_bad_field():
    for fields, field in [({"text": " "}, "text"), ({"text": "Hi.", "speed": 0.1}, "speed"),
                          ({"text": "Hi.", "lang": "ja"}, "lang"), ({"text": "Hi.", "max_tokens": 600}, "max_tokens"),
                          ({"text": "Hi.", "first_max_tokens": 8}, "first_max_tokens"),
                          ({"text": "Hi.", "pause_s": -1.0}, "pause_s"), ({"text": "Hi.", "emotion": "happy"}, "emotion")]:
        with pytest.raises(InputError) as refused:
            SynthesisRequest(**fields)
        assert refused.value.field == field, fields
    assert SynthesisRequest("Hi.", first_max_tokens=0).first_max_tokens == 0  # 0: no cut, as None


def test_a_request_is_frozen_and_changed_only_by_a_checked_copy():
    request = SynthesisRequest("Hi.", voice="af_heart", emotion=spec_from_request(vector={"happy": 0.5}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.speed = 2.0  # type: ignore[misc]
    faster = request.but(speed=1.5)
    assert (faster.speed, faster.voice, request.speed) == (1.5, "af_heart", 1.0)
    with pytest.raises(InputError, match="speed"):
        request.but(speed=9.0)
    assert hash(request) == hash(SynthesisRequest("Hi.", voice="af_heart",
                                                  emotion=spec_from_request(vector={"happy": 0.5})))


def test_the_text_shorthand_builds_the_same_request_and_refuses_unknown_options():
    assert SynthesisRequest.of("Hi.", speed=1.2, lang="en") == SynthesisRequest("Hi.", speed=1.2, lang="en")
    request = SynthesisRequest("Hi.")
    assert SynthesisRequest.of(request) is request
    assert SynthesisRequest.of(request, pause_s=0.5).pause_s == 0.5
    with pytest.raises(TypeError, match="unknown synthesis option.*volume"):
        SynthesisRequest.of("Hi.", volume=2)


def test_building_a_request_loads_no_model_code():
    probe = "import sys, indextts.request; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"
