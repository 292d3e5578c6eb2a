"""The text frontend: text in, speakable segments out (source text, language, phonemes, tokens).

Responsibilities: split text into sentences (one segment each) and, only when a sentence is over
the token budget, into clauses, then words; pick each sentence's language; normalize and
phonemize it; map phonemes to Kokoro token ids; say which characters it cannot read
(``unreadable``); honour the readings the user set (inline annotations, glossary entries: see
``annotations``, ``glossary``) and list the words it read (``words``); record in each segment which
phonemes say each written word (``Segment.words``, see ``word_spans``: word timestamps). It knows nothing
about tensors or audio.

Readings the user set: the glossary's matches become inline annotations, the annotations are parsed
into plain text + override spans, and the plain text is segmented as usual (a segment's text has no
markup; no cut falls inside an override). An overridden span is not normalized ([2024](er4 ling2 er4
si4) is read as given); the text around it is normalized piece by piece. In Chinese, pinyin over Han
characters replaces those characters' syllables inside the words around them (the rest of the
sentence keeps its word cutting and polyphone rules); the Mandarin path has no tone-sandhi pass, so
the tones given are the tones spoken. /phonemes/ are read verbatim; a respelling through the English
G2P (``G2P.respelling_phonemes``); pinyin inside English as its Mandarin phonemes."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Sequence

from . import segment as seg
from .annotations import Override, parse_annotations
from .coverage import Unreadable, find_unreadable
from .g2p import G2P, ForcedReading, WordReading, join_en, join_zh
from .glossary import GlossaryEntry, annotate
from .langdetect import HAN_RE, resolve_langs
from .normalize import normalize
from .readings import PHONEMES, PINYIN
from .vocab import MAX_MODEL_TOKENS, clean_phonemes, is_speakable, to_tokens
from .word_spans import WordSpan, shifted, unit_phoneme_spans, word_spans

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
    # the written words of ``text`` (offsets into it) with the phonemes that say them: word timestamps
    words: tuple[WordSpan, ...] = field(default=(), compare=False, repr=False)
    # Mandarin segments: the [start, end) token spans (phoneme indices, no boundary token) of the words read
    # as English (Latin runs, English readings set by the user), which the engine may say in an English
    # voice's manner; () elsewhere
    english_runs: tuple[tuple[int, int], ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class Word:
    """A word as read, in reading order after normalization ("twenty twenty-four" is two words)."""
    text: str
    lang: str                           # "zh" | "en"
    phonemes: str
    pinyin: tuple[str, ...] | None      # Chinese: one TONE3 syllable per Han character (5 = neutral),
                                        # after polyphones, glossary and annotations, before sandhi


@dataclass
class _Piece:
    start: int                 # offsets into the whole input text
    end: int
    lang: str
    normalized: str
    phonemes: str
    tokens: tuple[int, ...]
    ends: str = "sentence"
    words: tuple[WordSpan, ...] = ()   # offsets into the whole input text
    english_runs: tuple[tuple[int, int], ...] = ()  # see Segment.english_runs


# Levels at which an over-long piece is split: clauses, words, the pieces of an unknown run-together
# word (where the English G2P cuts it), characters.
CLAUSES, WORDS, WORD_PIECES, CHARACTERS = range(4)


class Frontend:
    """Text -> list[Segment]. G2P engines are built on first use and cached."""

    def __init__(self, max_tokens: int = 400, cache_size: int = 4096):
        self.max_tokens = self._budget(max_tokens)
        self.g2p = G2P()
        # Sentences repeat (retries, previews then Generate, the same paragraph in two voices) and
        # packing phonemizes parts more than once: keep recent G2P results. The key is the piece's
        # text, language and the overrides inside it (offsets relative to the piece).
        self._read_piece = lru_cache(maxsize=cache_size)(self._read_uncached)

    @staticmethod
    def _budget(max_tokens: int) -> int:
        if not isinstance(max_tokens, int) or max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive integer, not {max_tokens!r}")
        return min(max_tokens, MAX_MODEL_TOKENS)

    # -- public ----------------------------------------------------------------------------
    def segments(self, text: str, lang: str = "auto", max_tokens: int | None = None,
                 first_max_tokens: int | None = None, glossary: Sequence[GlossaryEntry] = ()) -> list[Segment]:
        """Segments to synthesize, in order. Empty/whitespace text -> []; nothing speakable -> []
        and a warning. ``first_max_tokens`` cuts the first sentence short so a streaming caller has
        its first audio sooner: after the last clause break (, ; : — ， 、 ； ：) that keeps the head
        within that many tokens, never inside a clause (no such break: not cut). The rest keeps
        ``max_tokens``. Inline annotations and ``glossary`` matches are read as set (InputError,
        field "text", for a malformed annotation); ``Segment.text`` is the plain text."""
        budget = self.max_tokens if max_tokens is None else self._budget(max_tokens)
        if not text or not text.strip():
            return []
        text, overrides = self._plain(text, glossary)
        sentences = _keep_whole(seg.split_sentences(text), 0, overrides)
        langs = resolve_langs(sentences, lang)
        pieces: list[_Piece] = []
        offset = 0
        for sentence, sentence_lang in zip(sentences, langs):
            if sentence.strip():
                head = first_max_tokens if not pieces and first_max_tokens else None
                parts = (self._fit_head(sentence, offset, sentence_lang, head, budget, overrides) if head
                         else self._fit(sentence, offset, sentence_lang, budget, CLAUSES, overrides))
                for part in parts[:-1]:  # the last one ends the sentence
                    part.ends = "clause" if seg.ends_clause(text[part.start:part.end]) else "word"
                pieces += parts
            offset += len(sentence)
        for p in pieces:
            source = text[p.start:p.end]  # read as in _fit: the same cached G2P result
            _, units = self._read_piece(source, p.lang, _inside(overrides, p.start, len(source)))
            p.words = shifted(word_spans(source, units, p.phonemes, p.lang), p.start)
            p.english_runs = _english_runs(units, p.phonemes) if p.lang == "zh" else ()
        segments = self._merge_unspeakable(text, pieces)
        if not segments:
            log.warning("no speakable text in %r", text[:80])
        return segments

    def words(self, text: str, lang: str = "auto", glossary: Sequence[GlossaryEntry] = ()) -> list[Word]:
        """The words read, in reading order after normalization, sentence by sentence, with the
        readings ``segments`` uses (the same cached G2P results for a sentence that fits one segment).
        Punctuation is left out; a Latin run inside Chinese ("Apple Watch") is one English word."""
        if not text or not text.strip():
            return []
        text, overrides = self._plain(text, glossary)
        sentences = _keep_whole(seg.split_sentences(text), 0, overrides)
        out: list[Word] = []
        offset = 0
        for sentence, sentence_lang in zip(sentences, resolve_langs(sentences, lang)):
            if sentence.strip():
                _, units = self._read_piece(sentence, sentence_lang, _inside(overrides, offset, len(sentence)))
                out += [Word(u.text, u.lang, clean_phonemes(u.phonemes, context=u.text),
                             u.pinyin if u.lang == "zh" else None) for u in units if u.lang]
            offset += len(sentence)
        return out

    @staticmethod
    def unreadable(text: str, lang: str = "auto") -> Unreadable:
        """The letters of ``text`` that no segment reads (kana, hangul, Cyrillic...; Han with lang en).
        Annotation markup and the text it sets a reading for are not reported."""
        plain, overrides = parse_annotations(text)
        for o in overrides:
            plain = plain[:o.start] + " " * (o.end - o.start) + plain[o.end:]
        return find_unreadable(plain, lang)

    def phonemize(self, text: str, lang: str = "auto") -> str:
        """Phonemes for the whole text (debugging/CLI): the segments' phonemes joined by spaces."""
        return " ".join(s.phonemes for s in self.segments(text, lang, max_tokens=MAX_MODEL_TOKENS))

    def normalize(self, text: str, lang: str = "auto") -> str:
        """Normalized text, sentence by sentence (what the G2P reads; overridden spans as written)."""
        text, overrides = parse_annotations(text)
        sentences = _keep_whole(seg.split_sentences(text), 0, overrides)
        out, offset = [], 0
        for s, lg in zip(sentences, resolve_langs(sentences, lang)):
            if s.strip():
                out.append(self._read_piece(s, lg, _inside(overrides, offset, len(s)))[0])
            offset += len(s)
        return " ".join(out)

    # -- internals -------------------------------------------------------------------------
    @staticmethod
    def _plain(text: str, glossary: Sequence[GlossaryEntry]) -> tuple[str, tuple[Override, ...]]:
        return parse_annotations(annotate(text, glossary) if glossary else text)

    def _phonemize_piece(self, text: str, lang: str, overrides: tuple[Override, ...] = ()
                         ) -> tuple[str, str, tuple[int, ...]]:
        """(normalized text, phonemes, tokens) of a piece; ``overrides`` relative to the piece."""
        normalized, units = self._read_piece(text, lang, overrides)
        raw = join_zh(units) if lang == "zh" else join_en(units)
        phonemes = clean_phonemes(raw, context=text.strip())
        return normalized, phonemes, to_tokens(phonemes)

    def _read_uncached(self, text: str, lang: str, overrides: tuple[Override, ...]
                       ) -> tuple[str, tuple[WordReading, ...]]:
        """(normalized text, the G2P's units) of a piece. Without overrides the piece is normalized
        whole; with them, the text between them is normalized chunk by chunk and they are kept."""
        if not overrides:
            normalized = normalize(text.strip(), lang)
            units = self.g2p.zh_words(normalized) if lang == "zh" else self.g2p.en_words([(normalized, None)])
            return normalized, tuple(units)
        lead = len(text) - len(text.lstrip())
        chunks: list[tuple[str, Override | None]] = []
        pos = lead
        for o in overrides:
            if o.start > pos:
                chunks.append((_normalize_between(text[pos:o.start], lang), None))
            chunks.append((text[o.start:o.end], o))
            pos = o.end
        tail = text[pos:].rstrip()
        if tail:
            chunks.append((_normalize_between(tail, lang), None))
        normalized = "".join(c for c, _ in chunks).strip()
        return normalized, tuple(self._read_zh(chunks) if lang == "zh" else self._read_en(chunks))

    def _read_zh(self, chunks: list[tuple[str, Override | None]]) -> list[WordReading]:
        text, forced, pos = "", [], 0
        for chunk, o in chunks:
            if o is not None:
                r = o.reading
                if r.kind == PINYIN and HAN_RE.match(chunk):     # Han only: syllables forced in place
                    forced.append(ForcedReading(pos, pos + len(chunk), "zh", None, r.syllables))
                elif r.kind == PINYIN:
                    forced.append(ForcedReading(pos, pos + len(chunk), "zh",
                                                self.g2p.pinyin_phonemes(r.syllables, chunk), r.syllables))
                else:
                    phonemes = r.value if r.kind == PHONEMES else self.g2p.respelling_phonemes(r.value, in_zh=True)
                    forced.append(ForcedReading(pos, pos + len(chunk), "en", phonemes))
            text += chunk
            pos += len(chunk)
        return self.g2p.zh_words(text, forced)

    def _read_en(self, chunks: list[tuple[str, Override | None]]) -> list[WordReading]:
        given: list[tuple[str, str | None]] = []
        for chunk, o in chunks:
            if o is None:
                given.append((chunk, None))
            elif o.reading.kind == PINYIN:
                given.append((chunk, self.g2p.pinyin_phonemes(o.reading.syllables, chunk)))
            else:
                r = o.reading
                given.append((chunk, r.value if r.kind == PHONEMES else self.g2p.respelling_phonemes(r.value)))
        units = self.g2p.en_words(given)
        # a pinyin override read inside English is still a Chinese word: tag it (the overrides come
        # out of the G2P in order, each as one unit with exactly its text and phonemes)
        pending = [(chunk, phonemes, o) for (chunk, phonemes), (_, o) in zip(given, chunks) if o is not None]
        out = []
        for u in units:
            if pending and u.text == pending[0][0] and u.phonemes == pending[0][1]:
                o = pending.pop(0)[2]
                if o.reading.kind == PINYIN:
                    u = WordReading(u.text, "zh", u.phonemes, o.reading.syllables, u.space_after)
            out.append(u)
        return out

    def _fit(self, text: str, offset: int, lang: str, budget: int, level: int,
             overrides: tuple[Override, ...] = ()) -> list[_Piece]:
        """One piece if it fits the budget; else split at the next level (clauses, words,
        characters) and pack the parts back together up to the budget. No cut inside an override."""
        normalized, phonemes, tokens = self._phonemize_piece(text, lang, _inside(overrides, offset, len(text)))
        if len(tokens) <= budget:
            return [_Piece(offset, offset + len(text), lang, normalized, phonemes, tokens)]
        parts = _keep_whole(self._split(text, level), offset, overrides)
        while len(parts) <= 1 and level < CHARACTERS:
            level += 1
            parts = _keep_whole(self._split(text, level), offset, overrides)
        if len(parts) <= 1:          # a single character over budget: cannot happen in practice
            log.warning("dropped %d tokens past the budget in %r", len(tokens) - budget, text[:40])
            return [_Piece(offset, offset + len(text), lang, normalized, phonemes[:budget], tokens[:budget])]
        if level >= WORD_PIECES:
            log.warning("a single word is longer than %d tokens; splitting it: %r", budget, text[:40])
        out: list[_Piece] = []
        for part_offset, part in self._pack(parts, offset, lang, budget, overrides):
            out += self._fit(part, part_offset, lang, budget, min(level + 1, CHARACTERS), overrides)
        return out

    def _pack(self, parts: list[str], offset: int, lang: str, budget: int,
              overrides: tuple[Override, ...]) -> list[tuple[int, str]]:
        """``seg.pack`` for parts starting at ``offset``: (offset, text) of each run that fits."""
        starts = [offset]
        for p in parts:
            starts.append(starts[-1] + len(p))

        def fits(a: int, b: int) -> bool:
            piece = "".join(parts[a:b])
            return len(self._phonemize_piece(piece, lang, _inside(overrides, starts[a], len(piece)))[2]) <= budget
        return [(starts[a], "".join(parts[a:b])) for a, b in seg.pack_ranges(len(parts), fits)]

    def _fit_head(self, text: str, offset: int, lang: str, head_budget: int, budget: int,
                  overrides: tuple[Override, ...] = ()) -> list[_Piece]:
        """The sentence's first clauses up to ``head_budget`` tokens as one piece, then the rest of it
        under ``budget``. When the sentence fits ``head_budget`` or its first clause does not, the
        sentence is fitted as usual (a streamed head is never cut inside a clause)."""
        head_budget = min(self._budget(head_budget), budget)
        fits = lambda t: len(self._phonemize_piece(t, lang, _inside(overrides, offset, len(t)))[2]) <= head_budget  # noqa: E731
        clauses = _keep_whole(seg.split_clauses(text), offset, overrides)
        head = (self._pack(clauses, offset, lang, head_budget, overrides)[0][1]
                if len(clauses) > 1 and not fits(text) else text)
        if head == text or not fits(head):
            return self._fit(text, offset, lang, budget, CLAUSES, overrides)
        first = self._fit(head, offset, lang, head_budget, CLAUSES, overrides)
        rest = text[len(head):]
        return [*first, *(self._fit(rest, offset + len(head), lang, budget, CLAUSES, overrides) if rest.strip() else [])]

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
        segments = []
        for p in kept:
            start = p.start + len(text[p.start:p.end]) - len(text[p.start:p.end].lstrip())
            segments.append(Segment(text[p.start:p.end].strip(), p.lang, p.phonemes, p.tokens, p.normalized, p.ends,
                                    shifted(p.words, -start), p.english_runs))
        return segments


def _english_runs(units: Sequence[WordReading], phonemes: str) -> tuple[tuple[int, int], ...]:
    """The token spans of a Mandarin piece's English units, neighbours (only spaces between) joined:
    "Apple Watch" is one run."""
    spoken = [u for u in units if u.lang]
    runs: list[tuple[int, int]] = []
    for unit, span in zip(spoken, unit_phoneme_spans(phonemes, [u.phonemes for u in spoken])):
        if unit.lang != "en" or span is None or span[0] >= span[1]:
            continue
        if runs and not phonemes[runs[-1][1]:span[0]].strip():
            runs[-1] = (runs[-1][0], span[1])
        else:
            runs.append(span)
    return tuple(runs)


def _normalize_between(chunk: str, lang: str) -> str:
    """A chunk of text between overrides, normalized, with the spaces at its ends kept (they part it
    from the overridden words)."""
    body = chunk.strip()
    if not body:
        return chunk
    return chunk[:len(chunk) - len(chunk.lstrip())] + normalize(body, lang) + chunk[len(chunk.rstrip()):]


def _inside(overrides: tuple[Override, ...], start: int, length: int) -> tuple[Override, ...]:
    """The overrides within text[start:start + length], relative to ``start`` (the cache key part)."""
    end = start + length
    return tuple(o.shifted(-start) for o in overrides if start <= o.start and o.end <= end)


def _keep_whole(parts: list[str], offset: int, overrides: tuple[Override, ...]) -> list[str]:
    """``parts`` (consecutive, from ``offset``) with the neighbours joined where a cut would fall
    inside an override span: a forced reading is never split between segments."""
    if not overrides or len(parts) <= 1:
        return parts
    out = [parts[0]]
    cut = offset + len(parts[0])
    for part in parts[1:]:
        if any(o.start < cut < o.end for o in overrides):
            out[-1] += part
        else:
            out.append(part)
        cut += len(part)
    return out
