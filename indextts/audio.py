"""Audio helpers: decoding uploaded clips, speech bounds, peak safety and atomic file writes."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import soundfile as sf

from .atomic import atomic_path
from .errors import InputError

# Files the CLI writes: extension -> (soundfile format, subtype). mp3/ogg rely on the libsndfile bundled with soundfile.
FILE_FORMATS = {
    ".wav": ("WAV", "PCM_16"),
    ".flac": ("FLAC", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
}
PEAK_CEILING = 0.97  # headroom below full scale so encoders never clip
READABLE_FORMATS = "WAV, FLAC, OGG or MP3"  # what the bundled libsndfile decodes, as error messages name it


def decode_audio(source: bytes | bytearray | str | Path, what: str,
                 max_s: float | None = None) -> tuple[np.ndarray, int]:
    """A sound file's bytes or path -> (float32 samples of shape (frames, channels), sample rate).

    ``max_s`` stops decoding after that many seconds, so a long upload costs no more than its start.
    Anything soundfile cannot decode is an InputError that names the clip (``what``, e.g. "the reference
    clip") and gives libsndfile's reason. The whole-file read is ``sf.read``, which seeks to the start
    before decoding, and the limited read does not seek: for an MP3 the two differ in the last bit, so
    one read for both would change what a clone is fitted on or what an emotion reference measures."""
    handle = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    try:
        if max_s is None:
            audio, rate = sf.read(handle, dtype="float32", always_2d=True)
        else:
            with sf.SoundFile(handle) as f:
                rate = f.samplerate
                limit = int(max_s * rate)
                audio = f.read(min(f.frames if f.frames > 0 else limit, limit), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        # libsndfile's own words, without the Python object it was handed (<_io.BytesIO object at 0x...>)
        reason = str(exc.error_string if isinstance(exc, sf.LibsndfileError) else exc).rstrip(".")
        raise InputError(f"{what} could not be read as audio ({reason}); upload a {READABLE_FORMATS} file") from None
    return audio, int(rate)


def speech_bounds(audio: np.ndarray, sample_rate: int, floor_db: float = -45.0, margin_s: float = 0.04) -> tuple[int, int]:
    """[start, end) of the audio without leading/trailing samples quieter than ``floor_db``
    relative to the peak, keeping a margin. Silent audio gives an empty range."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return 0, 0
    loud = np.flatnonzero(np.abs(audio) >= peak * 10 ** (floor_db / 20))
    margin = int(margin_s * sample_rate)
    return max(0, int(loud[0]) - margin), min(len(audio), int(loud[-1]) + margin + 1)


def limit_peak(audio: np.ndarray, sample_rate: int, hold_s: float = 0.005) -> np.ndarray:
    """Keep every sample under PEAK_CEILING by turning the gain down only around the peaks.

    Scaling a whole segment by its highest sample would make its loudness depend on one sample (Kokoro's
    peaks sit 0.3-2 dB over the ceiling and move with any prosody change), so segments and emotions
    would differ in level at random. Instead the gain each sample needs is spread over +-``hold_s``
    (a minimum filter) and smoothed by a moving average of the same width: the smoothed gain at a
    peak averages values that all already satisfy that peak, so the ceiling holds exactly, and
    speech away from the peaks keeps its level."""
    x = np.asarray(audio, dtype=np.float32)
    magnitude = np.abs(x)
    if not x.size or float(magnitude.max()) <= PEAK_CEILING:
        return x
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    width = 2 * max(1, int(hold_s * sample_rate)) + 1
    needed = np.minimum(1.0, PEAK_CEILING / np.maximum(magnitude, 1e-12))
    gain = uniform_filter1d(minimum_filter1d(needed, width, mode="nearest"), width, mode="nearest")
    gain[gain > 1 - 1e-6] = 1.0  # the running mean's rounding, where nothing was turned down
    return np.clip(x * gain, -PEAK_CEILING, PEAK_CEILING).astype(np.float32)


def check_writable(path: Path) -> tuple[str, str]:
    """Validate an output path before any work is done; returns its (format, subtype)."""
    path = Path(path)
    fmt = FILE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"unsupported output format {path.suffix or '(none)'!r}; use one of {', '.join(FILE_FORMATS)}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"output folder does not exist: {folder}")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"cannot write {path}: permission denied")
    return fmt


def write_audio(path: Path, audio: np.ndarray, sample_rate: int) -> Path:
    """Write through a temp file in the same folder and rename, so no half-written file is ever seen."""
    path = Path(path)
    fmt, subtype = check_writable(path)
    with atomic_path(path) as tmp:
        sf.write(tmp, audio, sample_rate, format=fmt, subtype=subtype)
    return path
