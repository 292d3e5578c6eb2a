"""The eight emotion profiles as data: how each one moves pitch, loudness, tempo and pauses.

A profile is a ``ProsodyEdit`` at full intensity (vector value 1, weight 1). Edits are combined in
additive units (semitones, dB, log factors), so mixtures and intensities scale continuously from
neutral (the all-zero edit). Pure data: no torch, no numpy.

Where the numbers come from
---------------------------
The DIRECTIONS follow published cue patterns of vocal emotion:

- [BS96] Banse, R. & Scherer, K. R. (1996). Acoustic profiles in vocal emotion expression.
  Journal of Personality and Social Psychology 70(3), 614-636.
- [JL03] Juslin, P. N. & Laukka, P. (2003). Communication of emotions in vocal expression and
  music performance: different channels, same code? Psychological Bulletin 129(5), 770-814
  (meta-analysis; its summary table of speech rate, intensity, F0 level and F0 variability per
  emotion is what the signs below follow first).
- [S03] Scherer, K. R. (2003). Vocal communication of emotion: a review of research paradigms.
  Speech Communication 40(1-2), 227-256.
- [MA93] Murray, I. R. & Arnott, J. L. (1993). Toward the simulation of emotion in synthetic
  speech: a review of the literature on human vocal emotion. JASA 93(2), 1097-1108.

The MAGNITUDES are ours: chosen so that weight 1.0 is clearly audible on Kokoro-82M while speech
stays intelligible (bench/emotion.py measures both). They are not fitted to any corpus. Where the
literature disagrees or is silent, the profile says so in ``evidence`` and the benchmark does not
check that measure's direction (``checked`` lists the ones it does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

EMOTIONS: tuple[str, ...] = ("happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm")
# IndexTTS2's Chinese names (its WebUI sliders), used by the UI and the text lexicon.
EMOTIONS_ZH: dict[str, str] = {"happy": "喜", "angry": "怒", "sad": "哀", "afraid": "惧", "disgusted": "厌恶",
                               "melancholic": "低落", "surprised": "惊喜", "calm": "平静"}
MEASURES: tuple[str, ...] = ("f0_mean", "f0_range", "energy", "rate")


@dataclass(frozen=True)
class ProsodyEdit:
    """A change of prosody relative to the voice's neutral reading. The zero edit changes nothing.

    f0_shift_st: pitch level, semitones (+ higher).
    f0_range:    factor on each F0 point's distance from the utterance median in log-F0 (1 = as is).
    f0_tilt_st:  a linear pitch slope over the utterance: semitones at the end minus the start.
    energy_db:   loudness, dB: the model's energy curve plus a segment gain (see apply.py).
    tempo:       speaking-rate factor on every phone duration (>1 faster).
    pause:       extra factor on the duration of pause and punctuation tokens (>1 longer pauses).
    """

    f0_shift_st: float = 0.0
    f0_range: float = 1.0
    f0_tilt_st: float = 0.0
    energy_db: float = 0.0
    tempo: float = 1.0
    pause: float = 1.0

    def scaled(self, k: float) -> "ProsodyEdit":
        """k x this edit in additive units (k=0: neutral; factors scale in the log domain)."""
        return ProsodyEdit(self.f0_shift_st * k, self.f0_range ** k, self.f0_tilt_st * k, self.energy_db * k,
                           self.tempo ** k, self.pause ** k)

    def plus(self, other: "ProsodyEdit") -> "ProsodyEdit":
        return ProsodyEdit(self.f0_shift_st + other.f0_shift_st, self.f0_range * other.f0_range,
                           self.f0_tilt_st + other.f0_tilt_st, self.energy_db + other.energy_db,
                           self.tempo * other.tempo, self.pause * other.pause)

    @property
    def is_neutral(self) -> bool:
        return self == ProsodyEdit()

    def expected_sign(self, measure: str) -> int:
        """+1/-1/0: which way this edit should move a measure of the output audio."""
        value = {"f0_mean": self.f0_shift_st, "f0_range": math.log(self.f0_range),
                 "energy": self.energy_db, "rate": math.log(self.tempo)}[measure]
        return 0 if abs(value) < 1e-9 else (1 if value > 0 else -1)


@dataclass(frozen=True)
class Profile:
    name: str
    edit: ProsodyEdit
    evidence: str  # what the sources say, in one or two sentences
    checked: tuple[str, ...] = field(default=MEASURES)  # measures whose direction the bench checks


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("happy", ProsodyEdit(f0_shift_st=3.0, f0_range=1.35, f0_tilt_st=1.0, energy_db=3.0, tempo=1.10,
                                 pause=0.85),
            "Joy/happiness: higher F0 level, more F0 variability, higher intensity, faster rate [JL03, BS96 "
            "(elation), MA93 (upward inflections)]. Rate is mixed in MA93; JL03 gives fast."),
    Profile("angry", ProsodyEdit(f0_shift_st=2.0, f0_range=1.30, f0_tilt_st=-1.0, energy_db=5.0, tempo=1.12,
                                 pause=0.80),
            "Anger (hot): higher intensity (the strongest cue), higher F0 level and variability, fast rate "
            "[JL03, BS96, S03, MA93]; falling, abrupt contours [MA93]."),
    Profile("sad", ProsodyEdit(f0_shift_st=-2.5, f0_range=0.65, f0_tilt_st=-1.5, energy_db=-4.0, tempo=0.85,
                                pause=1.40),
            "Sadness: lower F0 level, less F0 variability, lower intensity, slow rate, downward contours, "
            "more pausing [JL03, BS96, S03, MA93]."),
    Profile("afraid", ProsodyEdit(f0_shift_st=4.0, f0_range=0.90, f0_tilt_st=1.0, energy_db=1.0, tempo=1.15,
                                  pause=0.90),
            "Fear: high F0 level and fast rate [JL03, BS96, S03, MA93]. F0 variability is mixed (JL03: small, "
            "MA93: wider) and intensity is mixed (panic vs anxiety, BS96): small moves, not checked.",
            ("f0_mean", "rate")),
    Profile("disgusted", ProsodyEdit(f0_shift_st=-1.5, f0_range=1.05, f0_tilt_st=-2.0, energy_db=-1.5, tempo=0.85,
                                     pause=1.20),
            "Disgust: lower F0 level, slower rate, wide downward terminal inflections [MA93, BS96, S03]; "
            "fewer studies and less consistent findings than for the basic four [JL03, S03]. Range and energy "
            "moves are small and not checked.", ("f0_mean", "rate")),
    Profile("melancholic", ProsodyEdit(f0_shift_st=-1.5, f0_range=0.55, f0_tilt_st=-1.0, energy_db=-3.0, tempo=0.82,
                                       pause=1.60),
            "Melancholy (IndexTTS2's 'low spirits'): the quiet, low-arousal sadness of BS96 ('sadness' as "
            "opposed to 'despair'): flat, narrow F0, soft, slowest rate and longest pauses. An adaptation of "
            "the sadness pattern, not a separately studied category."),
    Profile("surprised", ProsodyEdit(f0_shift_st=4.5, f0_range=1.50, f0_tilt_st=2.5, energy_db=2.0, tempo=1.0,
                                     pause=1.0),
            "Surprise: not among the emotions of JL03's speech summary; studies that include it report high F0 "
            "and wide F0 excursions. The profile is high, wide and rising, tempo unchanged (rate not checked).",
            ("f0_mean", "f0_range", "energy")),
    Profile("calm", ProsodyEdit(f0_shift_st=-1.0, f0_range=0.80, f0_tilt_st=0.0, energy_db=-2.0, tempo=0.92,
                                pause=1.15),
            "Calm: low arousal, positive; follows JL03's tenderness pattern (slow rate, low F0 level, little F0 "
            "variability, low intensity), with smaller moves than sadness."),
)}

assert tuple(PROFILES) == EMOTIONS
