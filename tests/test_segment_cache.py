"""The optional segment cache: bounded by seconds of audio, and what the engine keys its entries on."""

from __future__ import annotations

import numpy as np
import pytest

from indextts.segment_cache import SegmentCache

slow = pytest.mark.slow


def test_segment_cache_is_lru_bounded_by_seconds():
    cache: SegmentCache[str] = SegmentCache(10.0)
    assert cache.enabled
    cache.put("a", "A", 4.0)
    cache.put("b", "B", 4.0)
    assert cache.get("a") == "A"  # now b is the least recently used
    cache.put("c", "C", 4.0)  # 12 s > 10 s: b goes
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == ("A", "C")
    assert (cache.hits, cache.misses) == (3, 1)
    cache.put("c", "C2", 4.0)  # replacing an entry does not count its seconds twice
    cache.put("d", "D", 2.0)  # a 4 + c 4 + d 2 = 10 s: all fit
    assert [cache.get(k) for k in "acd"] == ["A", "C2", "D"]
    cache.put("huge", "H", 10.5)  # larger than the whole cache: not stored, nothing evicted
    assert cache.get("huge") is None and [cache.get(k) for k in "acd"] == ["A", "C2", "D"]
    cache.clear()
    assert cache.get("a") is None
    cache.put("e", "E", 9.0)  # clear also forgot the seconds held
    assert cache.get("e") == "E"


def test_segment_cache_off_at_zero_stores_nothing():
    cache: SegmentCache[str] = SegmentCache(0)
    assert not cache.enabled
    cache.put("a", "A", 0.5)
    assert cache.get("a") is None


@pytest.fixture
def cached_engine(engine):
    saved = engine.cache
    engine.cache = SegmentCache(60.0)
    try:
        yield engine
    finally:
        engine.cache = saved


@slow
def test_an_identical_request_is_served_from_the_cache(cached_engine):
    engine = cached_engine
    text = "Caching saves time. Twice is free."
    first = engine.synthesize(text, voice="jf_alpha")
    assert (engine.cache.hits, engine.cache.misses) == (0, 2)
    again = engine.synthesize(text, voice="jf_alpha")
    assert engine.cache.hits == 2
    assert np.array_equal(again.audio, first.audio)
    assert [s.text for s in again.segments] == [s.text for s in first.segments]
    assert again.compute_s < first.compute_s / 10, (again.compute_s, first.compute_s)
    # a sentence already said, now in another text, is reused too
    alone = engine.synthesize("Twice is free.", voice="jf_alpha")
    assert engine.cache.hits == 3 and np.array_equal(alone.audio, first.segments[1].audio)
    # another speed or another voice is another rendering
    faster = engine.synthesize("Caching saves time.", voice="jf_alpha", speed=1.3)
    other_voice = engine.synthesize("Caching saves time.", voice="jm_kumo")
    assert engine.cache.hits == 3
    assert faster.segments[0].duration_s < 0.9 * first.segments[0].duration_s
    n = min(len(other_voice.segments[0].audio), len(first.segments[0].audio))
    assert not np.array_equal(other_voice.segments[0].audio[:n], first.segments[0].audio[:n])


@slow
def test_the_cache_keeps_emotions_apart(cached_engine):
    from indextts.emotion import spec_from_request

    engine = cached_engine
    text = "What a wonderful surprise."
    neutral = engine.synthesize(text)
    first = engine.synthesize(text, emotion=spec_from_request(vector={"happy": 0.9}))
    assert engine.cache.hits == 0  # the neutral rendering is not reused for an emotional request
    n = min(len(first.audio), len(neutral.audio))
    assert not np.array_equal(first.audio[:n], neutral.audio[:n])
    again = engine.synthesize(text, emotion=spec_from_request(vector={"happy": 0.9}))
    assert engine.cache.hits == 1 and np.array_equal(again.audio, first.audio)
