"""Normalization: what a listener hears for numbers, dates, money, units... in both languages."""
import pytest

from indextts.text.normalize_en import normalize_en
from indextts.text.normalize_zh import normalize_zh


@pytest.mark.parametrize("text, expected", [
    ("I have 42 cats.", "I have forty-two cats."),
    ("It costs 1,234,567.", "It costs one million two hundred thirty-four thousand five hundred sixty-seven."),
    ("Pi is 3.14", "Pi is three point one four"),
    ("The 1st and the 22nd", "The first and the twenty-second"),
    ("It was 1999.", "It was nineteen ninety-nine."),
    ("In 2024 we won.", "In twenty twenty-four we won."),
    ("in 2005", "in two thousand five"),
    ("I have 2024 apples", "I have two thousand twenty-four apples"),
    ("on 2024-03-15", "on March fifteenth, twenty twenty-four"),
    ("on March 5th", "on March fifth"),
    ("at 3:30 pm", "at three thirty P.M."),
    ("at 14:05", "at fourteen oh five"),
    ("$12.50", "twelve dollars and fifty cents"),
    ("$1", "one dollar"),
    ("to $3.2 million in", "to three point two million dollars in"),
    ("a $5K budget", "a five thousand dollars budget"),
    ("€1.25 billion", "one point two five billion euros"),
    ("€3", "three euros"),
    ("¥100", "one hundred yen"),
    ("£5.05", "five pounds and five pence"),
    ("25% off", "twenty-five percent off"),
    ("-12.5%", "minus twelve point five percent"),
    ("it was -5 outside", "it was minus five outside"),
    ("5 km", "five kilometers"),
    ("3 kg", "three kilograms"),
    ("20°C", "twenty degrees Celsius"),
    ("16 GB", "sixteen gigabytes"),
    ("500 MB", "five hundred megabytes"),
    ("3-5 days", "three to five days"),
    ("Call 555-123-4567.", "Call five five five, one two three, four five six seven."),
    ("Call (555) 123-4567", "Call five five five, one two three, four five six seven"),
    ("Dr. Smith and Mr. Jones", "Doctor Smith and Mister Jones"),
    ("Mrs. Brown", "Missus Brown"),
    ("St. Paul lives on Main St.", "Saint Paul lives on Main Street."),
    ("fruit, e.g. apples", "fruit, for example apples"),
    ("one, i.e. this", "one, that is this"),
    ("apples, pears, etc.", "apples, pears, et cetera."),
    ("cats vs. dogs", "cats versus dogs"),
    ("agent 007", "agent zero zero seven"),
    # clock times with am/pm glued on, and their ranges; the sentence's full stop stays
    ("Open from 9am-5pm daily.", "Open from nine AM to five PM daily."),
    ("Meet at 5pm.", "Meet at five PM."),
    ("Meet at 5 p.m. Then go.", "Meet at five PM. Then go."),
    ("Meet at 5 p.m. today", "Meet at five PM today"),
    # addresses, versions, multipliers, 24/7, WWII
    ("Visit 192.168.0.1 now", "Visit one nine two dot one six eight dot zero dot one now"),
    ("Version 2.0.1 is out", "Version two point zero point one is out"),
    ("It is 3x faster", "It is three times faster"),
    ("We offer 24/7 support", "We offer twenty-four seven support"),
    ("After WWII ended", "After World War Two ended"),
])
def test_english(text, expected):
    assert normalize_en(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("我有42只猫", "我有四十二只猫"),
    ("圆周率是3.14", "圆周率是三点一四"),
    ("在2024年", "在二零二四年"),
    ("1990年代", "一九九零年代"),
    ("2024-03-15", "二零二四年三月十五日"),
    ("3月15日", "三月十五日"),
    ("14:05开会", "十四点零五分开会"),
    ("下午2:00", "下午两点"),
    ("价格12.5元", "价格十二点五元"),
    ("¥100", "一百元"),
    ("$12.50", "十二点五美元"),
    ("€3", "三欧元"),
    ("增长了25%", "增长了百分之二十五"),
    ("3%-5%", "百分之三到百分之五"),
    ("温度是-5°C", "温度是零下五摄氏度"),
    ("气温20℃", "气温二十摄氏度"),
    ("跑了5km", "跑了五公里"),
    ("重3kg", "重三公斤"),
    ("16GB内存", "十六GB内存"),
    ("3-5天", "三到五天"),
    ("价格1000-2000元", "价格一千到两千元"),
    ("温差-3", "温差负三"),
    ("两个人，2个人", "两个人，两个人"),
    ("2点开会", "两点开会"),
    ("22个", "二十二个"),
    ("第2名", "第二名"),
    ("2月2日", "二月二日"),
    ("2万元", "两万元"),
    ("2.5个小时", "二点五个小时"),
    ("1,000,000元", "一百万元"),
    ("1/2的人", "二分之一的人"),
    ("编号007", "编号零零七"),
])
def test_chinese(text, expected):
    assert normalize_zh(text) == expected


@pytest.mark.parametrize("phone", ["138-1234-5678", "13812345678", "+86 138 1234 5678", "010-12345678",
                                   "400-123-4567"])
def test_chinese_phone_numbers_are_digits_never_minus(phone):
    out = normalize_zh(f"请拨打{phone}。")
    assert "负" not in out and "到" not in out
    assert not any(c.isdigit() for c in out)
    assert "幺" in out or "零" in out


def test_chinese_short_phone_after_keyword():
    assert normalize_zh("电话：555-1234") == "电话：五五五，幺二三四"


def test_chinese_mobile_grouping():
    assert normalize_zh("13812345678") == "幺三八，幺二三四，五六七八"


# The Chinese number rules listed in README ("Numbers in Chinese"), one group per rule.
@pytest.mark.parametrize("text, expected", [
    # years: 4 digits before 年 digit by digit; round thousands and spans of years as numbers
    ("1998年出生", "一九九八年出生"),
    ("1949年以来", "一九四九年以来"),
    ("公元1000年", "公元一千年"),
    ("2000年奥运会", "两千年奥运会"),
    ("长达1500年的历史", "长达一千五百年的历史"),
    ("1500多年", "一千五百多年"),
    ("1900-2000年", "一九零零到二零零零年"),
    # phone numbers: digit by digit, 1 as 幺, groups separated by a pause
    ("电话13812345678", "电话幺三八，幺二三四，五六七八"),
    # versions: after v/V (the letter stays, spelled), dotted twice, after a Latin word, before 版
    ("v2.5版本", "v二点五版本"),
    ("V3.10", "V三点十"),
    ("2.5版", "二点五版"),
    ("版本号1.2.3", "版本号一点二点三"),
    ("Python 3.12", "Python 三点十二"),
    ("Python3.12", "Python三点十二"),
    ("GPT-3.5", "GPT-三点五"),
    ("1.05版", "一点零五版"),
    # IPv4 addresses: each part digit by digit, 点 between (not a version: 一百九十二点...)
    ("访问192.168.1.10即可", "访问一九二点一六八点一点一零即可"),
    ("IP是10.0.0.255", "IP是一零点零点零点二五五"),
    ("版本1.2.3.456", "版本一点二点三点四百五十六"),  # a part over 255: a version
    # codes digit by digit: after 号/账号/尾号/验证码/ID, rooms, generations; decades as numbers
    ("订单号20240315001", "订单号二零二四零三一五零零一"),
    ("验证码是4821", "验证码是四八二一"),
    ("尾号3345的卡", "尾号三三四五的卡"),
    ("会议在3楼301室", "会议在三楼三零一室"),
    ("他是95后，我是00后", "他是九五后，我是零零后"),
    ("他30后就退休了", "他三十后就退休了"),
    ("5月3号", "五月三号"),
    ("90年代的歌", "九十年代的歌"),
    # time ranges, scores and ratios
    ("营业时间9:00-17:00", "营业时间九点到十七点"),
    ("上午9:30~下午5:00开放", "上午九点三十分到下午五点开放"),
    ("比分3:2", "比分三比二"),
    ("屏幕比例16:9", "屏幕比例十六比九"),
    ("3天2夜", "三天两夜"),
    # units: letters that are no unit of measure stay Latin and are spelled; units read in Chinese
    ("5G网络", "五G网络"),
    ("4K屏幕", "四K屏幕"),
    ("2.5GHz", "二点五吉赫兹"),
    ("5000mAh电池", "五千毫安时电池"),
    ("k8s集群", "k八s集群"),
    # model numbers of 4+ digits and video resolutions: digit by digit
    ("RTX 4090显卡", "RTX 四零九零显卡"),
    ("1080p视频", "一零八零p视频"),
    ("iPhone 15", "iPhone 十五"),
    # ranges: 到, also for percentages and decimals
    ("3-5天", "三到五天"),
    ("3~5天", "三到五天"),
    ("10%-20%", "百分之十到百分之二十"),
    ("1.5-2小时", "一点五到两小时"),
    # negative numbers, decimals, percentages, permille
    ("-5", "负五"),
    ("温度-3.5度", "温度负三点五度"),
    ("零下-5度", "零下五度"),
    ("0.05", "零点零五"),
    ("-12.5%", "负百分之十二点五"),
    ("3‰", "千分之三"),
    # times and dates
    ("10:30开会", "十点三十分开会"),
    ("12:00", "十二点"),
    ("2024-05-01", "二零二四年五月一日"),
    ("2024年5月1日", "二零二四年五月一日"),
    # programming languages with symbols
    ("用C#写", "用C sharp写"),
    ("C++很难", "C加加很难"),
])
def test_chinese_number_rules(text, expected):
    assert normalize_zh(text) == expected
