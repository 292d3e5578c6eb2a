"""English number words (US style: no "and", no commas, so no stray pauses inside a number)."""
from __future__ import annotations

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
        "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SCALES = ["", "thousand", "million", "billion", "trillion", "quadrillion"]
IRREGULAR_ORDINALS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                      "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}


def _under_1000(n: int) -> list[str]:
    words: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        words += [ONES[hundreds], "hundred"]
    if rest >= 20:
        words.append(TENS[rest // 10] + (f"-{ONES[rest % 10]}" if rest % 10 else ""))
    elif rest:
        words.append(ONES[rest])
    return words


def cardinal(n: int) -> str:
    """1234 -> 'one thousand two hundred thirty-four'; negatives get 'minus'."""
    if n < 0:
        return "minus " + cardinal(-n)
    if n == 0:
        return "zero"
    if n >= 1000 ** len(SCALES):
        return digits(str(n))
    words: list[str] = []
    for scale in range(len(SCALES) - 1, -1, -1):
        group = (n // 1000 ** scale) % 1000
        if group:
            words += _under_1000(group) + ([SCALES[scale]] if scale else [])
    return " ".join(words)


def ordinal(n: int) -> str:
    """22 -> 'twenty-second'."""
    words = cardinal(n)
    head, sep, last = words.rpartition(" ")
    stem, dash, unit = last.rpartition("-")
    if unit in IRREGULAR_ORDINALS:
        unit = IRREGULAR_ORDINALS[unit]
    elif unit.endswith("y"):
        unit = unit[:-1] + "ieth"
    else:
        unit += "th"
    return head + sep + stem + dash + unit


def year(n: int) -> str:
    """1999 -> 'nineteen ninety-nine', 2005 -> 'two thousand five', 2024 -> 'twenty twenty-four'."""
    high, low = divmod(n, 100)
    if not 10 <= high <= 99 or (high % 10 == 0 and low < 10):
        return cardinal(n)
    if low == 0:
        return f"{cardinal(high)} hundred"
    return f"{cardinal(high)} {'oh ' if low < 10 else ''}{cardinal(low)}"


def digits(s: str) -> str:
    """'0471' -> 'zero four seven one' (ids, phone numbers, digits after a decimal point)."""
    return " ".join(ONES[int(c)] for c in s if c.isdigit())


def decimal(s: str) -> str:
    """'3.14' -> 'three point one four' (digits after the point read as written)."""
    whole, _, frac = s.partition(".")
    words = cardinal(int(whole.replace(",", "") or 0))
    return f"{words} point {digits(frac)}" if frac else words
