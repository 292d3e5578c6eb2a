"""Out-of-vocabulary English words, read whole.

hibari reads a word its lexicon does not know with a small character network that only looks at the
word's first 24 letters, so run-together text ("thequickbrownfox", "helloworld" x 500, a hashtag) lost
everything past them. Here such a word is cut before the G2P sees it:

- into common words when it is made of them ("helloworld" -> "hello world"): the fewest pieces,
  function words preferred on ties ("over the", not "overt he");
- a word longer than the network reads is always cut: into the dictionary words it contains where it
  can be, the letters in between in runs the network reads whole.

Names and other short unknown words that are not made of common words ("Kubernetes", "Reddit") are
left to the network, which reads them better than a split would."""
from __future__ import annotations

import re
from typing import Callable

# Short words that, among pieces of equal count, make the likelier reading ("over the" vs "overt he").
FUNCTION_WORDS = frozenset(
    "a about after all also an and any are as at be because been but by can could did do does for from had "
    "has have he her here him his how i if in into is it its just may me more most my no not now of on one "
    "only or our out over she so some than that the their them then there these they this those to too up "
    "us very was we were what when where which who why will with would you your".split())
SHORT_WORDS = frozenset("a i am an as at be by do go he hi if in is it me my no of oh ok on or so to up us we".split())
FUNCTION_COST = 0.9       # a function word piece
COMMON_COST = 1.0         # a common word piece
RARE_COST = 1.5           # a dictionary word that is not common (only inside over-long words)
UNKNOWN_RUN_COST = 1.0    # per run of letters no dictionary word covers (over-long words only) ...
UNKNOWN_LETTER_COST = 0.5  # ... plus this per letter: covering letters with known words is worth more
MAX_PIECE = 30            # longest dictionary word tried as a piece (longer ones are single words anyway)
_WORD_RE = re.compile(r"[^\W\d_]+")
# the parts the G2P's tokenizer reads as words: "iPhone" -> i, Phone; "XMLHttp" -> XML, Http
_CAMEL_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[^\W\d_A-Z]+|[A-Z]+")
ACRONYM_LETTERS = 6       # an all-caps word up to this long is an acronym: spelled, never cut
_LINK_RE = re.compile(r"\[[^\]]*\]\([^)]*\)")  # [word](/phonemes/): already read, left alone


class OovSplitter:
    """Finds where unknown words are cut. ``known(word)``: the lexicon reads it (stems included);
    ``common``: lowercase frequent words; ``max_letters``: how many letters the OOV reader reads."""

    def __init__(self, known: Callable[[str], bool], common: frozenset[str], max_letters: int) -> None:
        self.known = known
        self.common = common
        self.max_letters = max_letters

    def respace(self, text: str) -> str:
        """``text`` with a space at every cut: what the G2P should read. Link markup is left alone."""
        return " ".join(self.pieces(text))

    def pieces(self, text: str) -> list[str]:
        """``text`` cut at the same places, losslessly (the pieces concatenate back to ``text``)."""
        out: list[str] = []
        start = 0
        for cut in self._cut_offsets(text):
            out.append(text[start:cut])
            start = cut
        out.append(text[start:])
        return [p for p in out if p]

    def cuts(self, word: str) -> list[int]:
        """Offsets inside one word (letters only, one case pattern) where it is cut; [] reads it as is."""
        if len(word) < 2:
            return []
        lower = word.lower()
        if word.isupper():  # acronyms are spelled, shouted words the lexicon knows are read
            if len(word) <= ACRONYM_LETTERS or self.known(lower):
                return []
        elif self.known(word):
            return []
        if len(word) <= self.max_letters:
            return self._common_split(lower)
        return self._long_split(lower)

    # -- internals -------------------------------------------------------------------------
    def _cut_offsets(self, text: str) -> list[int]:
        offsets: list[int] = []
        for part_start, part in _plain_parts(text):
            for m in _WORD_RE.finditer(part):
                for sub in _CAMEL_RE.finditer(m.group()):
                    base = part_start + m.start() + sub.start()
                    offsets += [base + c for c in self.cuts(sub.group())]
        return offsets

    def _common_split(self, word: str) -> list[int]:
        """Cuts into common words only (at least two, no single letter at the end); else []."""
        def cost(piece: str) -> float | None:
            if len(piece) <= 2 and piece not in SHORT_WORDS:
                return None
            if piece not in self.common:
                return None
            return FUNCTION_COST if piece in FUNCTION_WORDS else COMMON_COST

        cuts = _best_cuts(word, cost, max_piece=min(MAX_PIECE, len(word) - 1))
        if not cuts or len(word) - cuts[-1] < 2:
            return []
        return cuts

    def _long_split(self, word: str) -> list[int]:
        """Cuts for a word longer than the OOV reader reads: dictionary words where they fit, runs of
        at most ``max_letters`` letters between them. Always succeeds."""
        def cost(piece: str) -> float | None:
            if len(piece) <= 2 and piece not in SHORT_WORDS:
                return None
            if piece in self.common:
                return FUNCTION_COST if piece in FUNCTION_WORDS else COMMON_COST
            return RARE_COST if len(piece) >= 3 and self.known(piece) else None

        def unknown(run: str) -> float:
            return UNKNOWN_RUN_COST + UNKNOWN_LETTER_COST * len(run)

        return _best_cuts(word, cost, max_piece=MAX_PIECE, unknown=unknown, max_unknown=self.max_letters) or []


def _best_cuts(word: str, cost: Callable[[str], float | None], max_piece: int,
               unknown: Callable[[str], float] | None = None, max_unknown: int = 0) -> list[int] | None:
    """The cheapest way to cut ``word`` into pieces (dynamic programming over end positions);
    ``cost(piece)`` None: not a piece. With ``unknown``, runs up to ``max_unknown`` letters that are
    no piece are allowed at ``unknown(run)``. None when no cutting covers the word."""
    n = len(word)
    best: list[tuple[float, int] | None] = [None] * (n + 1)  # (cost, start of the last piece)
    best[0] = (0.0, 0)
    for end in range(1, n + 1):
        for start in range(max(0, end - max(max_piece, max_unknown)), end):
            if best[start] is None:
                continue
            piece = word[start:end]
            c = cost(piece) if end - start <= max_piece else None
            if c is None and unknown is not None and end - start <= max_unknown:
                c = unknown(piece)
            if c is None:
                continue
            total = best[start][0] + c
            if best[end] is None or total < best[end][0] - 1e-9:
                best[end] = (total, start)
    if best[n] is None:
        return None
    cuts, end = [], n
    while end:
        end = best[end][1]
        if end:
            cuts.append(end)
    return cuts[::-1]


def _plain_parts(text: str) -> list[tuple[int, str]]:
    """(offset, text) of the parts outside link markup."""
    out, start = [], 0
    for m in _LINK_RE.finditer(text):
        out.append((start, text[start:m.start()]))
        start = m.end()
    out.append((start, text[start:]))
    return out
