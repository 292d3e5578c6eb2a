"""The text frontend: text in, speakable segments out (source text, language, phonemes, tokens).

Responsibilities: split text into sentences (one segment each) and, only when a sentence is over
the token budget, into clauses, then words; pick each sentence's language; normalize and
phonemize it; map phonemes to Kokoro token ids; say which characters it cannot read
(``unreadable``). It knows nothing about tensors or audio."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

from . import segment as seg
from .coverage import Unreadable, find_unreadable
from .g2p import G2P
from .langdetect import resolve_langs
from .normalize import normalize
from .vocab import MAX_MODEL_TOKENS, clean_phonemes, is_speakable, to_tokens

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Segment:
    text: str                  # the source text of this segment (as the user wrote it, stripped)
    lang: str                  # "en" | "zh" (mixed zh sentences with English words are "zh")
    phonemes: str              # Kokoro phoneme string
    tokens: tuple[int, ...]    # vocab ids, without the boundary zeros, 1..510 of them
    normalized: str = ""       # what the G2P read (numbers, dates... as words), for display/debug
    ends: str = "sentence"     # where the source text is cut after it: "sentence", "clause" or "word"
                               # (mid-sentence cuts get a shorter pause when segments are joined)


@dataclass
class _Piece:
    start: int                 # offsets into the whole input text
    end: int
    lang: str
    normalized: str
    phonemes: str
    tokens: tuple[int, ...]
    ends: str = "sentence"


# Levels at which an over-long piece is split: clauses, words, the pieces of an unknown run-together
# word (where the English G2P cuts it), characters.
CLAUSES, WORDS, WORD_PIECES, CHARACTERS = range(4)


class Frontend:
    """Text -> list[Segment]. G2P engines are built on first use and cached."""

    def __init__(self, max_tokens: int = 400, cache_size: int = 4096):
        self.max_tokens = self._budget(max_tokens)
        self.g2p = G2P()
        # Sentences repeat (retries, previews then Generate, the same paragraph in two voices) and
        # packing phonemizes parts more than once: keep recent G2P results.
        self._phonemize_piece = lru_cache(maxsize=cache_size)(self._phonemize_uncached)

    @staticmethod
    def _budget(max_tokens: int) -> int:
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive integer, not {max_tokens!r}")
        return min(max_tokens, MAX_MODEL_TOKENS)

    # -- public ----------------------------------------------------------------------------
    def segments(self, text: str, lang: str = "auto", max_tokens: int | None = None,
                 first_max_tokens: int | None = None) -> list[Segment]:
        """Segments to synthesize, in order. Empty/whitespace text -> []; nothing speakable -> []
        and a warning. ``first_max_tokens`` cuts the first sentence short so a streaming caller has
        its first audio sooner: after the last clause break (, ; : — ， 、 ； ：) that keeps the head
        within that many tokens, never inside a clause (no such break: not cut). The rest keeps
        ``max_tokens``."""
        budget = self.max_tokens if max_tokens is None else self._budget(max_tokens)
        if not text or not text.strip():
            return []
        sentences = seg.split_sentences(text)
        langs = resolve_langs(sentences, lang)
        pieces: list[_Piece] = []
        offset = 0
        for sentence, sentence_lang in zip(sentences, langs):
            if sentence.strip():
                head = first_max_tokens if not pieces and first_max_tokens else None
                parts = (self._fit_head(sentence, offset, sentence_lang, head, budget) if head
                         else self._fit(sentence, offset, sentence_lang, budget, level=CLAUSES))
                for part in parts[:-1]:  # the last one ends the sentence
                    part.ends = "clause" if seg.ends_clause(text[part.start:part.end]) else "word"
                pieces += parts
            offset += len(sentence)
        segments = self._merge_unspeakable(text, pieces)
        if not segments:
            log.warning("no speakable text in %r", text[:80])
        return segments

    @staticmethod
    def unreadable(text: str, lang: str = "auto") -> Unreadable:
        """The letters of ``text`` that no segment reads (kana, hangul, Cyrillic...; Han with lang en)."""
        return find_unreadable(text, lang)

    def phonemize(self, text: str, lang: str = "auto") -> str:
        """Phonemes for the whole text (debugging/CLI): the segments' phonemes joined by spaces."""
        return " ".join(s.phonemes for s in self.segments(text, lang, max_tokens=MAX_MODEL_TOKENS))

    def normalize(self, text: str, lang: str = "auto") -> str:
        """Normalized text, sentence by sentence (what the G2P reads)."""
        sentences = seg.split_sentences(text)
        return " ".join(normalize(s.strip(), lg) for s, lg in zip(sentences, resolve_langs(sentences, lang))
                        if s.strip())

    # -- internals -------------------------------------------------------------------------
    def _phonemize_uncached(self, text: str, lang: str) -> tuple[str, str, tuple[int, ...]]:
        normalized = normalize(text.strip(), lang)
        raw = self.g2p.zh(normalized) if lang == "zh" else self.g2p.en(normalized)
        phonemes = clean_phonemes(raw, context=text.strip())
        return normalized, phonemes, to_tokens(phonemes)

    def _fit(self, text: str, offset: int, lang: str, budget: int, level: int) -> list[_Piece]:
        """One piece if it fits the budget; else split at the next level (clauses, words,
        characters) and pack the parts back together up to the budget."""
        normalized, phonemes, tokens = self._phonemize_piece(text, lang)
        if len(tokens) <= budget:
            return [_Piece(offset, offset + len(text), lang, normalized, phonemes, tokens)]
        parts = self._split(text, level)
        while len(parts) <= 1 and level < CHARACTERS:
            level += 1
            parts = self._split(text, level)
        if len(parts) <= 1:          # a single character over budget: cannot happen in practice
            log.warning("dropped %d tokens past the budget in %r", len(tokens) - budget, text[:40])
            return [_Piece(offset, offset + len(text), lang, normalized, phonemes[:budget], tokens[:budget])]
        if level >= WORD_PIECES:
            log.warning("a single word is longer than %d tokens; splitting it: %r", budget, text[:40])
        fits = lambda t: len(self._phonemize_piece(t, lang)[2]) <= budget  # noqa: E731
        out: list[_Piece] = []
        for part in seg.pack(parts, fits):
            out += self._fit(part, offset, lang, budget, min(level + 1, CHARACTERS))
            offset += len(part)
        return out

    def _fit_head(self, text: str, offset: int, lang: str, head_budget: int, budget: int) -> list[_Piece]:
        """The sentence's first clauses up to ``head_budget`` tokens as one piece, then the rest of it
        under ``budget``. When the sentence fits ``head_budget`` or its first clause does not, the
        sentence is fitted as usual (a streamed head is never cut inside a clause)."""
        head_budget = min(self._budget(head_budget), budget)
        fits = lambda t: len(self._phonemize_piece(t, lang)[2]) <= head_budget  # noqa: E731
        clauses = seg.split_clauses(text)
        head = seg.pack(clauses, fits)[0] if len(clauses) > 1 and not fits(text) else text
        if head == text or not fits(head):
            return self._fit(text, offset, lang, budget, level=CLAUSES)
        first = self._fit(head, offset, lang, head_budget, level=CLAUSES)
        rest = text[len(head):]
        return [*first, *(self._fit(rest, offset + len(head), lang, budget, level=CLAUSES) if rest.strip() else [])]

    def _split(self, text: str, level: int) -> list[str]:
        if level == CLAUSES:
            return seg.split_clauses(text)
        if level == WORDS:
            return seg.split_words(text, cut=self.g2p.cut)
        if level == WORD_PIECES:
            return self.g2p.word_pieces(text)
        return list(text)

    @staticmethod
    def _merge_unspeakable(text: str, pieces: list[_Piece]) -> list[Segment]:
        """Fragments with nothing to say ("!!!", an emoji) join their neighbour's source text."""
        kept: list[_Piece] = []
        pending_start: int | None = None
        for p in pieces:
            if not is_speakable(p.phonemes):
                if kept:
                    kept[-1].end, kept[-1].ends = p.end, p.ends
                elif pending_start is None:
                    pending_start = p.start
                continue
            if pending_start is not None:
                p.start, pending_start = pending_start, None
            kept.append(p)
        return [Segment(text[p.start:p.end].strip(), p.lang, p.phonemes, p.tokens, p.normalized, p.ends)
                for p in kept]
