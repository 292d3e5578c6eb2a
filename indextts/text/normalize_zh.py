"""Chinese text normalization: digits and symbols become Chinese characters before G2P, with the
readings Mandarin speakers use (二零二四年, 两点, 三到五天, 百分之二十五, 零下五摄氏度, phone
numbers digit by digit). Latin words are left in place for the English G2P."""
from __future__ import annotations

import re

from . import numbers_zh as N
from .numbers_en import ordinal as ordinal_en

_FULLWIDTH = {**{chr(0xFF10 + i): str(i) for i in range(10)},
              **{chr(0xFF21 + i): chr(0x41 + i) for i in range(26)},
              **{chr(0xFF41 + i): chr(0x61 + i) for i in range(26)},
              "％": "%", "＄": "$", "￥": "¥", "＋": "+", "－": "-", "．": ".", "～": "~", "℃": "°C",
              "／": "/", "＝": "="}
_FULLWIDTH_RE = re.compile("|".join(map(re.escape, _FULLWIDTH)))

NUM = r"\d+(?:\.\d+)?"
# Measure words after which 2 is read 两 (两个, 两天), not 二 (二月, 二楼, 第二).
LIANG_MEASURES = ("个", "位", "只", "本", "条", "件", "张", "次", "天", "岁", "小时", "分钟", "秒钟",
                  "年", "周", "星期", "种", "名", "辆", "台", "部", "双", "对", "块", "杯", "瓶", "碗",
                  "家", "份", "套", "项", "门", "场", "遍", "倍", "把", "根", "头", "匹", "架", "座",
                  "棵", "片", "句", "封", "篇", "首", "口", "声", "层", "点", "斤", "公斤", "公里",
                  "米", "元", "万", "千", "百", "亿", "成", "趟", "笔", "支", "顿", "节", "期", "届", "夜", "晚")
UNITS = {  # longest first in the regex; data sizes stay Latin and are read as letters
    "km/h": "公里每小时", "m/s": "米每秒", "km²": "平方公里", "m²": "平方米", "m³": "立方米",
    "km": "公里", "cm": "厘米", "mm": "毫米", "nm": "纳米", "m": "米", "kg": "公斤", "mg": "毫克",
    "g": "克", "t": "吨", "ml": "毫升", "mL": "毫升", "L": "升", "l": "升",
    "ms": "毫秒", "s": "秒", "min": "分钟", "h": "小时",
    "kHz": "千赫兹", "MHz": "兆赫兹", "GHz": "吉赫兹", "Hz": "赫兹", "kWh": "千瓦时", "kW": "千瓦",
    "W": "瓦", "V": "伏", "mAh": "毫安时", "°C": "摄氏度", "°F": "华氏度", "°": "度",
}
CURRENCIES = {"¥": "元", "$": "美元", "US$": "美元", "HK$": "港元", "€": "欧元", "£": "英镑"}
SYMBOLS = {"+": "加", "=": "等于", "&": "和", "×": "乘", "÷": "除以", "±": "正负", "~": "到", "@": " at "}

_PHONE_RE = re.compile(r"(?<![\d\-.,])(?:\+?86[ -]?)?(?:1\d{2}[ -]?\d{4}[ -]?\d{4}|0\d{2,3}[ -]\d{7,8}"
                       r"|\d{3,4}-\d{3,4}-\d{3,4})(?![\d\-])")
# 555-1234 is a phone number only after a word that says so; elsewhere 1000-2000 is a range
_SHORT_PHONE_RE = re.compile(r"((?:电话|手机|拨打|致电|热线|号码|联系|分机)[^\d\n]{0,6})(\d{3,4}-\d{4})(?![\d\-])")
_DATE_RE = re.compile(r"(?<!\d)(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_YEAR_RE = re.compile(r"(?<![\d.,])(\d{4}(?=\s*年)|\d{2}(?=\s*年代))")
# numbers that are codes, read digit by digit: after 号/编号/账号/尾号/验证码/密码/ID (编号123, 尾号3345, 验证码4821),
# a room (301室), a generation (90后, 00后)
_CODE_RE = re.compile(r"((?:号码?|验证码|密码|口令|(?<![A-Za-z])(?:ID|id))(?:是|为)?[:：]?\s?)(\d{3,})(?![\d.,])")
_ROOM_RE = re.compile(r"(?<![\d.,])\d{3,4}(?=\s*(?:室|房间))")
_GENERATION_RE = re.compile(r"(?<![\d.,])(?:[05-9][05]|10)(?=后(?![面来天年]))")  # 50后-00后, 95后, 10后
# Words that make "1500年" a span of years (一千五百年), not the year 1500 (一五零零年).
SPAN_BEFORE = ("近", "约", "长达", "历时", "超过", "将近", "大约", "整整", "足足", "过去", "经过", "持续")
SPAN_AFTER = ("多", "之久", "左右", "以上", "以内", "的历史", "历史")
# Versions: each part read as a number and joined by 点 (3.12 -> 三点十二, not 三点一二): after v/V
# (the letter stays and is spelled), with two dots or more, after a Latin word (Python 3.12), before 版.
_VERSION_V_RE = re.compile(r"(?<![A-Za-z])([vV])\s?(\d+(?:\.\d+)*)(?![\d.]|\s*[%A-Za-z])")
# an IPv4 address: four parts of 0-255 (a version has fewer parts, or parts over 255)
_IPV4_RE = re.compile(r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])")
_VERSION_DOTS_RE = re.compile(r"(?<![\d.])\d+(?:\.\d+){2,}(?![\d.])")
_VERSION_AFTER_WORD_RE = re.compile(r"(?:(?<=[A-Za-z])|(?<=[A-Za-z][ \-])|(?<=版本)|(?<=版本号))\d+\.\d+(?![\d.]|\s*[%A-Za-z°])")
_VERSION_BEFORE_BAN_RE = re.compile(r"(?<![\d.])\d+\.\d+(?=\s*版)")
# Model numbers of 4+ digits next to Latin letters (RTX 4090, RTX4090, 7950X) and video resolutions
# (1080p) are read digit by digit, as people say them; shorter ones are numbers (H200 -> H二百).
_MODEL_NUMBER_RE = re.compile(r"(?:(?<=[A-Za-z])|(?<=[A-Z] ))\d{4,}(?![\d.,]|\s*年)|(?<![\d.,])\d{4,}(?=[A-Za-z])"
                              r"|(?<![\d.,])\d{3,4}(?=[pP](?![A-Za-z]))")
_PERMILLE_RE = re.compile(rf"(-?{NUM})\s*‰")
_BELOW_ZERO_MINUS_RE = re.compile(r"零下\s*-(?=\d)")   # 零下-5度: 零下 says the minus already
# Programming languages written with a symbol the G2P cannot read.
LATIN_SYMBOL_WORDS = {"C#": "C sharp", "F#": "F sharp"}
_LATIN_SYMBOL_RE = re.compile(r"(?<![A-Za-z])(" + "|".join(map(re.escape, LATIN_SYMBOL_WORDS)) + r")(?![A-Za-z0-9#])")
_YEAR_RANGE_RE = re.compile(r"(?<![\d.])(\d{4})\s*[-~～–—]\s*(\d{4})(?=\s*年)")
_TIME_RE = re.compile(r"(?<!\d)([01]?\d|2[0-4])[:：]([0-5]\d)(?::([0-5]\d))?(?!\d)(?:\s?([AaPp])\.?[Mm]\.?(?![A-Za-z]))?")
# after the times are words: a dash between two of them is 到 (9:00-17:00 九点到十七点)
_TIME_RANGE_RE = re.compile(r"(?<=[点分秒])\s*[-~～–—]\s*(?=(?:上午|下午)?[零一二两三四五六七八九十]+点)")
# a colon before a single digit is no clock time: a score or a ratio (3:2 三比二, 16:9 十六比九)
_RATIO_RE = re.compile(r"(?<![\d:：.])(\d{1,3})\s?[:：]\s?(\d)(?![\d:：.])")
_EN_ORDINAL_RE = re.compile(r"(?<![\d.])(\d+)(st|nd|rd|th)(?![A-Za-z])")   # "March 5th" inside Chinese
_MONEY_RE = re.compile(r"(US\$|HK\$|[¥$€£])\s?(-?\d[\d,]*(?:\.\d+)?)")
_PERCENT_RANGE_RE = re.compile(rf"({NUM})\s*%?\s*[-~–]\s*({NUM})\s*%")
_PERCENT_RE = re.compile(rf"(-?{NUM})\s*%")
_TEMP_RE = re.compile(rf"(-)?({NUM})\s*(°C|°F)")
_UNIT_RE = re.compile(rf"(?<![A-Za-z\d.])({NUM})\s?(" + "|".join(re.escape(u) for u in sorted(UNITS, key=len, reverse=True))
                      + r")(?![A-Za-z²³/])")
_RANGE_RE = re.compile(rf"(?<![\d.\-])({NUM})\s*[-~～–—]\s*(?={NUM}(?![\d\-]))")
_NEG_RE = re.compile(rf"(?<![0-9A-Za-z.])-(?={NUM})")
_FRACTION_RE = re.compile(r"(?<![\d/])(\d+)/(\d+)(?![\d/])")
_ORDINAL_RE = re.compile(r"第\s*(\d+)")
_LONG_DIGITS_RE = re.compile(r"(?<![\d.,])(0\d+|\d{12,})(?![\d.,])")
_TWO_RE = re.compile(r"(?<![\d.])2(?=\s*(?:" + "|".join(LIANG_MEASURES) + r"))(?!\s*点\d)")
_NUMBER_RE = re.compile(r"(?<![\d.,])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")


def _phone(m: re.Match | str) -> str:
    raw = m if isinstance(m, str) else m.group(0)
    groups = re.findall(r"\d+", raw)
    if raw.lstrip("+").startswith("86") and len(groups[0]) == 2 and len(groups) > 1:
        groups = groups[1:]
    if len(groups) == 1 and len(groups[0]) == 11:       # 13812345678 -> 138 1234 5678
        g = groups[0]
        groups = [g[:3], g[3:7], g[7:]]
    return "，".join(N.digits(g, phone=True) for g in groups)


def _date(m: re.Match) -> str:
    y, mo, d = m.group(1), int(m.group(2)), int(m.group(3))
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return m.group(0)
    return f"{N.digits(y)}年{N.cardinal(mo)}月{N.cardinal(d)}日"


def _time(m: re.Match) -> str:
    h, mi, sec = int(m.group(1)), int(m.group(2)), m.group(3)
    hour = "两" if h == 2 else N.cardinal(h)
    ampm = m.group(4)
    words = ({"a": "上午", "p": "下午"}[ampm.lower()] if ampm else "") + f"{hour}点"
    if mi:
        words += ("零" if mi < 10 else "") + N.cardinal(mi) + "分"
    if sec and int(sec):
        words += N.cardinal(int(sec)) + "秒"
    return words


def _money(m: re.Match) -> str:
    sym, amount = m.groups()
    amount = amount.replace(",", "")
    if "." in amount:
        amount = amount.rstrip("0").rstrip(".")     # 12.50 -> 十二点五
    return _num(amount) + CURRENCIES[sym]


def _num(s: str) -> str:
    s = s.replace(",", "")
    return N.decimal(s) if "." in s else N.cardinal(int(s))


def _temperature(m: re.Match) -> str:
    below = "零下" if m.group(1) else ""
    return below + _num(m.group(2)) + UNITS[m.group(3)]


def _fraction(m: re.Match) -> str:
    a, b = int(m.group(1)), int(m.group(2))
    return f"{N.cardinal(b)}分之{N.cardinal(a)}" if b else m.group(0)


def _year(m: re.Match) -> str:
    """A year digit by digit; a round thousand or a span of years as a number (see SPAN_BEFORE)."""
    number = m.group(1)
    after = m.string[m.end():].lstrip()
    after = after[1:] if after.startswith("年") else ""
    before = m.string[:m.start()].rstrip()
    span = (len(number) == 4 and number.endswith("000")) or before.endswith(SPAN_BEFORE) or after.startswith(SPAN_AFTER)
    if len(number) == 2:  # a decade: 90年代 九十年代 (00年代 零零年代)
        return N.digits(number) if number == "00" else N.cardinal(int(number))
    return N.cardinal(int(number)) if span else N.digits(number)


def _version(numbers: str) -> str:
    """'3.12' -> 三点十二: each part a number; a part with a leading zero digit by digit (1.05 -> 一点零五)."""
    return "点".join(N.digits(p) if len(p) > 1 and p.startswith("0") else N.cardinal(int(p))
                    for p in numbers.split("."))


def _number(m: re.Match) -> str:
    return _num(m.group(0))


def normalize_zh(text: str) -> str:
    """Digits and symbols in Chinese text as Chinese words: '3-5天' -> '三到五天'."""
    text = _FULLWIDTH_RE.sub(lambda m: _FULLWIDTH[m.group(0)], text)
    text = _LATIN_SYMBOL_RE.sub(lambda m: LATIN_SYMBOL_WORDS[m.group(1)], text)
    text = _PHONE_RE.sub(_phone, text)          # first: its hyphens must never read as 负
    text = _SHORT_PHONE_RE.sub(lambda m: m.group(1) + _phone(m.group(2)), text)
    text = _DATE_RE.sub(_date, text)
    text = _IPV4_RE.sub(lambda m: "点".join(N.digits(p) for p in m.group(0).split(".")), text)  # before versions
    text = _VERSION_DOTS_RE.sub(lambda m: _version(m.group(0)), text)     # before times and decimals
    text = _VERSION_V_RE.sub(lambda m: m.group(1) + _version(m.group(2)), text)
    text = _VERSION_AFTER_WORD_RE.sub(lambda m: _version(m.group(0)), text)
    text = _VERSION_BEFORE_BAN_RE.sub(lambda m: _version(m.group(0)), text)
    text = _YEAR_RANGE_RE.sub(lambda m: f"{N.digits(m.group(1))}到{N.digits(m.group(2))}", text)
    text = _YEAR_RE.sub(_year, text)
    text = _CODE_RE.sub(lambda m: m.group(1) + N.digits(m.group(2)), text)
    text = _ROOM_RE.sub(lambda m: N.digits(m.group(0)), text)
    text = _GENERATION_RE.sub(lambda m: N.digits(m.group(0)), text)
    text = _TIME_RE.sub(_time, text)
    text = _TIME_RANGE_RE.sub("到", text)
    text = _RATIO_RE.sub(lambda m: f"{N.cardinal(int(m.group(1)))}比{N.cardinal(int(m.group(2)))}", text)
    text = _EN_ORDINAL_RE.sub(lambda m: ordinal_en(int(m.group(1))), text)
    text = _MONEY_RE.sub(_money, text)
    text = _PERCENT_RANGE_RE.sub(lambda m: f"百分之{_num(m.group(1))}到百分之{_num(m.group(2))}", text)
    text = _PERMILLE_RE.sub(lambda m: ("负" if m.group(1).startswith("-") else "")
                            + "千分之" + _num(m.group(1).lstrip("-")), text)
    text = _PERCENT_RE.sub(lambda m: ("负" if m.group(1).startswith("-") else "")
                           + "百分之" + _num(m.group(1).lstrip("-")), text)
    text = _BELOW_ZERO_MINUS_RE.sub("零下", text)
    text = _TEMP_RE.sub(_temperature, text)
    text = _UNIT_RE.sub(lambda m: f"{m.group(1)}{UNITS[m.group(2)]}", text)
    text = _MODEL_NUMBER_RE.sub(lambda m: N.digits(m.group(0)), text)     # after units: 5000mAh is a number
    text = _RANGE_RE.sub(lambda m: f"{m.group(1)}到", text)
    text = _NEG_RE.sub("负", text)
    text = _FRACTION_RE.sub(_fraction, text)
    text = _ORDINAL_RE.sub(lambda m: "第" + N.cardinal(int(m.group(1))), text)
    text = _LONG_DIGITS_RE.sub(lambda m: N.digits(m.group(1)), text)
    text = _TWO_RE.sub("两", text)
    text = _NUMBER_RE.sub(_number, text)
    for sym, word in SYMBOLS.items():
        text = text.replace(sym, word)
    return text
