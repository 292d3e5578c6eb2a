"""Chinese number readings: cardinals (with 两 where Mandarin says it), digit strings, decimals."""
from __future__ import annotations

DIGITS = "零一二三四五六七八九"
PHONE_DIGITS = "零幺二三四五六七八九"   # 1 -> 幺 in phone numbers, as people read them aloud
_SMALL_UNITS = ["", "十", "百", "千"]
_BIG_UNITS = ["", "万", "亿", "万亿"]


def _under_10000(n: int) -> str:
    out = ""
    zero = False
    for pos in range(3, -1, -1):
        d = (n // 10 ** pos) % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out += "零"
            zero = False
        out += DIGITS[d] + _SMALL_UNITS[pos]
    return out


def cardinal(n: int) -> str:
    """1002 -> 一千零二, 12 -> 十二, 20000 -> 两万, -3 -> 负三."""
    if n < 0:
        return "负" + cardinal(-n)
    if n == 0:
        return "零"
    if n >= 10 ** 16:
        return digits(str(n))
    groups = []
    rest = n
    while rest:
        rest, g = divmod(rest, 10000)
        groups.append(g)
    out = ""
    need_zero = False
    for i in range(len(groups) - 1, -1, -1):
        g = groups[i]
        if g == 0:
            need_zero = bool(out)
            continue
        if out and (need_zero or g < 1000):
            out += "零"
        out += _under_10000(g) + _BIG_UNITS[i]
        need_zero = False
    if out.startswith("一十"):
        out = out[1:]                       # 十二, not 一十二
    if out[:2] in ("二千", "二万", "二亿"):
        out = "两" + out[1:]                # 两千 / 两万 / 两亿 is what people say
    return out


def digits(s: str, phone: bool = False) -> str:
    """'2024' -> 二零二四; phone=True reads 1 as 幺."""
    table = PHONE_DIGITS if phone else DIGITS
    return "".join(table[int(c)] for c in s if c.isdigit())


def decimal(s: str) -> str:
    """'12.5' -> 十二点五, '0.05' -> 零点零五 (digits after the point read one by one)."""
    whole, _, frac = s.replace(",", "").partition(".")
    neg = whole.startswith("-")
    whole = whole.lstrip("-")
    words = cardinal(int(whole or 0)) + (f"点{digits(frac)}" if frac else "")
    return ("负" if neg else "") + words
