"""Encode float audio into the response formats of the speech API (and the UI's downloads).

WAV, FLAC, MP3 and Ogg/Opus come from the libsndfile bundled with ``soundfile``; AAC (in ADTS frames,
as OpenAI returns it) from PyAV, whose wheel carries FFmpeg's libraries (no ffmpeg program needed).
``pcm`` is what OpenAI calls pcm: raw 16-bit little-endian mono samples at the engine's rate
(24 kHz), no header.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf

from ..errors import InputError

# format -> (libsndfile container, subtype, media type)
_CODECS: dict[str, tuple[str, str, str]] = {
    "wav": ("WAV", "PCM_16", "audio/wav"),
    "mp3": ("MP3", "MPEG_LAYER_III", "audio/mpeg"),
    "flac": ("FLAC", "PCM_16", "audio/flac"),
    "opus": ("OGG", "OPUS", "audio/ogg"),  # Ogg/Opus, as OpenAI returns it
}
PCM_MEDIA_TYPE = "audio/pcm"
AAC_MEDIA_TYPE = "audio/aac"
RESPONSE_FORMATS: tuple[str, ...] = (*_CODECS, "aac", "pcm")
STREAM_FORMATS = ("pcm", "wav")  # formats whose bytes can be sent while the rest is still being made
_UNKNOWN_SIZE = 0xFFFFFFFF  # a streamed WAV's length is not known when its header is sent
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)


def encode(audio: np.ndarray, sample_rate: int, fmt: str) -> tuple[bytes, str]:
    """Encode mono float audio (-1..1) as ``fmt``; returns (bytes, media type)."""
    fmt = fmt.lower()
    if fmt not in RESPONSE_FORMATS:
        raise InputError(f"unsupported audio format {fmt!r}; use one of {', '.join(RESPONSE_FORMATS)}")
    samples = np.clip(np.nan_to_num(np.asarray(audio, dtype=np.float32).reshape(-1)), -1.0, 1.0)
    if fmt == "pcm":
        return (_pcm16(samples).tobytes(), PCM_MEDIA_TYPE)
    if fmt == "wav":  # the pcm samples (libsndfile would scale floats by 32768): a streamed WAV is the same
        samples = _pcm16(samples)
    if fmt == "aac":
        return _aac(samples, sample_rate), AAC_MEDIA_TYPE
    container, subtype, media_type = _CODECS[fmt]
    if fmt == "opus" and sample_rate not in OPUS_RATES:
        raise InputError(f"opus needs a sample rate in {OPUS_RATES}, got {sample_rate}")
    buffer = io.BytesIO()
    sf.write(buffer, samples, sample_rate, format=container, subtype=subtype)
    return buffer.getvalue(), media_type


def _pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples in -1..1 as 16-bit little-endian integers (what pcm and WAV carry)."""
    return np.round(samples * 32767.0).astype("<i2")


def _aac(samples: np.ndarray, sample_rate: int) -> bytes:
    """AAC-LC in ADTS frames (what an .aac file or OpenAI's aac response holds)."""
    import av  # imported on first use: only aac responses need FFmpeg's libraries

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="adts") as container:
        stream = container.add_stream("aac", rate=sample_rate)
        stream.layout = "mono"
        packets = []
        if len(samples):  # FFmpeg's resampler fails on an empty frame
            frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
            frame.sample_rate = sample_rate
            packets += stream.encode(frame)
        for packet in (*packets, *stream.encode(None)):
            container.mux(packet)
    return buffer.getvalue()


def wav_stream_header(sample_rate: int) -> bytes:
    """A 44-byte 16-bit mono WAV header for a stream of unknown length (sizes set to the maximum,
    which players read as 'until the end of the data')."""
    byte_rate = sample_rate * 2
    return (b"RIFF" + struct.pack("<I", _UNKNOWN_SIZE) + b"WAVEfmt "
            + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, byte_rate, 2, 16)
            + b"data" + struct.pack("<I", _UNKNOWN_SIZE))
