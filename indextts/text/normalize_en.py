"""English text normalization: everything a reader says differently from how it is written
(numbers, money, dates, times, units, abbreviations) becomes words before G2P.

hibari's normalizer already covers dates, times, units, other currencies, titles and ranges; this
module adds what it leaves to its lexicon or reads wrongly (Latin abbreviations, numbers in full
words so they read the same everywhere, phone numbers in the usual US formats)."""
from __future__ import annotations

import re

from hibari.g2p.normalize import normalize as hibari_normalize

from . import numbers_en as N

# Latin and title abbreviations hibari spells letter by letter or keeps as-is.
ABBREVIATIONS = {
    "e.g.": "for example", "i.e.": "that is", "etc.": "et cetera", "vs.": "versus", "viz.": "namely",
    "Dr.": "Doctor", "Mr.": "Mister", "Mrs.": "Missus", "Ms.": "Miz", "Prof.": "Professor",
    "a.m.": "AM", "p.m.": "PM", "approx.": "approximately", "WWI": "World War One", "WWII": "World War Two",
}
_ABBR_RE = re.compile(r"(?<![\w.])(" + "|".join(re.escape(a) for a in ABBREVIATIONS) + r")(?=\W|$)",
                      re.IGNORECASE)
_ABBR_LOWER = {k.lower(): v for k, v in ABBREVIATIONS.items()}

_PHONE_RE = re.compile(r"(?<![\w.\-])(\+?1[ .-])?\(?(\d{3})\)?[ .-](\d{3})[ .-](\d{4})(?![\w\-]|\.\d)")
_MONEY_RE = re.compile(r"(-)?([$£€])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?!\d)")
# "$3.2 million" / "$5K": the scale word comes before the currency name when spoken.
_SCALED_MONEY_RE = re.compile(r"(-)?([$£€])\s?(\d+(?:\.\d+)?)\s?(thousand|million|billion|trillion|K|M|B|bn)\b")
SCALES = {"K": "thousand", "M": "million", "B": "billion", "bn": "billion"}
_PERCENT_RE = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)\s?%")
_ORDINAL_RE = re.compile(r"(?<![\w.])(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_NUMBER_RE = re.compile(r"(?<![\w.,])(-(?=\d))?(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\d,]*\d)(?!\.\d)(?![A-Za-z])")  # 4K, 221B: left to the G2P
_NEXT_WORD_RE = re.compile(r"\s*([A-Za-z]+)")
# clock times with am/pm glued on (9am, 5 p.m.), and a dash between two of them (9am-5pm: nine AM to five PM)
_CLOCK = r"\d{1,2}(?::[0-5]\d)?\s?[ap](?:m|\.m\.)(?![A-Za-z])"
_CLOCK_RANGE_RE = re.compile(rf"(?<![\w:.])({_CLOCK})\s?[-–]\s?(?={_CLOCK})", re.IGNORECASE)
_HOUR_AMPM_RE = re.compile(r"(?<![\w:.])(\d{1,2})\s?([ap])(m|\.m\.)(?![A-Za-z])", re.IGNORECASE)
_IPV4_RE = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])")
_DOTTED_VERSION_RE = re.compile(r"(?<![\d.])\d+(?:\.\d+){2,}(?![\d.])")  # 2.0.1: two point zero point one
_TIMES_RE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)x(?=\s+[A-Za-z])")      # 3x faster: three times
CURRENCY_NAMES = {"$": ("dollar", "dollars", "cent", "cents"), "€": ("euro", "euros", "cent", "cents"),
                  "£": ("pound", "pounds", "penny", "pence")}


def _abbreviation(m: re.Match) -> str:
    words = _ABBR_LOWER[m.group(1).lower()]
    # keep the sentence-final period that the abbreviation's own dot stood for
    at_end = m.end() == len(m.string) or (m.string[m.end():].strip() == "")
    return words + ("." if at_end and m.group(1).endswith(".") and words not in ("AM", "PM") else "")


def _hour_ampm(m: re.Match) -> str:
    """9am -> nine AM; "at 5 p.m." ending a sentence keeps the full stop its last dot stood for."""
    ends = m.group(3) != "m" and re.match(r"\s*(?:$|[A-Z\"'“])", m.string[m.end():]) is not None
    return f"{N.cardinal(int(m.group(1)))} {m.group(2).upper()}M" + ("." if ends else "")


def _phone(m: re.Match) -> str:
    groups = [g for g in m.groups()[1:]]
    lead = "one, " if m.group(1) else ""
    return lead + ", ".join(N.digits(g) for g in groups)


def _money(m: re.Match) -> str:
    minus, sym, whole, cents = m.groups()
    one, many, sub_one, sub_many = CURRENCY_NAMES[sym]
    n = int(whole.replace(",", ""))
    words = f"{N.cardinal(n)} {one if n == 1 else many}"
    if cents and int(cents.ljust(2, "0")):
        c = int(cents.ljust(2, "0"))
        words = (f"{words} and " if n else "") + f"{N.cardinal(c)} {sub_one if c == 1 else sub_many}"
    return ("minus " if minus else "") + words


def _scaled_money(m: re.Match) -> str:
    minus, sym, amount, scale = m.groups()
    amount_words = N.decimal(amount) if "." in amount else N.cardinal(int(amount))
    return ("minus " if minus else "") + f"{amount_words} {SCALES.get(scale, scale)} {CURRENCY_NAMES[sym][1]}"


def _number(m: re.Match) -> str:
    minus, whole, frac = m.groups()
    plain = whole.replace(",", "")
    if frac:
        words = N.decimal(plain + frac)
    elif len(plain) > 1 and plain.startswith("0") or len(plain) > 15:
        words = N.digits(plain)  # ids, codes, zero-padded numbers
    elif "," not in whole and len(plain) == 4 and 1100 <= int(plain) <= 2099 and not _counts_things(m):
        words = N.year(int(plain))
    else:
        words = N.cardinal(int(plain))
    return ("minus " if minus else "") + words


def _counts_things(m: re.Match) -> bool:
    """'2024 apples' counts; 'in 2024 we' is a year. A following plural noun means a count."""
    nxt = _NEXT_WORD_RE.match(m.string, m.end())
    return bool(nxt) and len(nxt.group(1)) > 3 and nxt.group(1).endswith("s") \
        and nxt.group(1).lower() not in {"was", "is", "has", "does", "this", "whereas"}


def normalize_en(text: str) -> str:
    """Readable English: '$12.50 on 2024-03-15' -> 'twelve dollars and fifty cents on March
    fifteenth, twenty twenty-four'."""
    text = _CLOCK_RANGE_RE.sub(lambda m: m.group(1) + " to ", text)
    text = _HOUR_AMPM_RE.sub(_hour_ampm, text)
    text = _ABBR_RE.sub(_abbreviation, text)
    text = _PHONE_RE.sub(_phone, text)
    text = _IPV4_RE.sub(lambda m: " dot ".join(N.digits(p) for p in m.group(0).split(".")), text)
    text = _DOTTED_VERSION_RE.sub(lambda m: " point ".join(N.cardinal(int(p)) for p in m.group(0).split(".")), text)
    text = _TIMES_RE.sub(lambda m: _number(_NUMBER_RE.match(m.group(1))) + " times", text)
    text = text.replace("24/7", "twenty-four seven")
    text = _SCALED_MONEY_RE.sub(_scaled_money, text)
    text = _MONEY_RE.sub(_money, text)     # before hibari: it reads $ amounts in its lexicon only
    text = hibari_normalize(text)
    text = _PERCENT_RE.sub(lambda m: _number(_NUMBER_RE.match(m.group(1))) + " percent", text)
    text = _ORDINAL_RE.sub(lambda m: N.ordinal(int(m.group(1))), text)
    text = _NUMBER_RE.sub(_number, text)
    return text
