"""Every string the web page shows, in English and Chinese. Pure data and one lookup function.

The page picks the language from the browser (navigator.language) and lets the user switch;
``t(lang, key, **values)`` formats a string. Both tables must hold the same keys (a test checks).
"""

from __future__ import annotations

UI_LANGS = ("en", "zh")
DEFAULT_UI_LANG = "en"

EN: dict[str, str] = {
    "title": "# IndexTTS WebUI",
    "subtitle": "Local text-to-speech (English and Mandarin) with Kokoro-82M. Nothing leaves this machine.",
    "ui_lang": "Interface language",
    # input
    "text": "Text",
    "text_placeholder": "Type or paste what should be spoken…",
    "chars": "{n} / {limit} characters",
    "chars_over": "{n} / {limit} characters: over the limit, shorten the text",
    "voice": "Voice",
    "voice_info": "Stock voices shipped with the model",
    "speed": "Speed",
    "lang": "Language",
    "lang_info": "Auto detects the language sentence by sentence",
    "lang_auto": "Auto",
    "lang_en": "English",
    "lang_zh": "Mandarin",
    "seg_accordion": "Segmentation",
    "max_tokens": "Max tokens per segment",
    "max_tokens_info": "Long text is split at sentences, then clauses, to stay under this many phoneme tokens",
    "seg_table": "Segments (preview)",
    "col_index": "#",
    "col_lang": "Language",
    "col_text": "Text",
    "col_tokens": "Tokens",
    "seg_loading": "(model loading… the preview appears when it is ready)",
    "seg_empty": "(type some text to see how it will be split)",
    "adv_accordion": "Advanced",
    "pause": "Silence between segments (s)",
    "no_seed": "There is no seed setting: the model is deterministic, the same input always gives the same audio.",
    "generate": "Generate",
    "stop": "Stop",
    "examples": "Examples",
    # output
    "audio": "Speech",
    "fmt": "Download format",
    "download": "Download",
    "pitch": "Pitch (F0)",
    "pitch_time": "time (s)",
    "pitch_hz": "pitch (Hz)",
    "pitch_segment": "segment",
    "history": "History (this session)",
    "history_hint": "Select a row to play it again.",
    "history_files": "All files of this session",
    "col_time": "Time",
    "col_voice": "Voice",
    "col_duration": "Duration (s)",
    "col_rtf": "RTF",
    # status and messages
    "status_loading": "○ loading model… (Generate is enabled when it is ready)",
    "status_failed": "× the model failed to load: {error}",
    "status_ready": "● ready · device **{device}** · model **{model}**",
    "status_rtf": " · last generation: {audio:.1f} s of audio in {compute:.1f} s (real-time factor {rtf:.2f})",
    "progress_segment": "segment {i} of {n}",
    "err_loading": "The model is still loading; try again in a few seconds.",
    "err_internal": "Generation failed unexpectedly ({error}); the details are in the server log.",
    "err_no_output": "Generate something first.",
}

ZH: dict[str, str] = {
    "title": "# IndexTTS WebUI",
    "subtitle": "本地文本转语音（英语和普通话），模型为 Kokoro-82M。所有数据都不离开本机。",
    "ui_lang": "界面语言",
    "text": "文本",
    "text_placeholder": "输入或粘贴要朗读的文字…",
    "chars": "{n} / {limit} 字符",
    "chars_over": "{n} / {limit} 字符：超出上限，请缩短文本",
    "voice": "音色",
    "voice_info": "模型自带的音色",
    "speed": "语速",
    "lang": "语言",
    "lang_info": "自动：逐句识别语言",
    "lang_auto": "自动",
    "lang_en": "英语",
    "lang_zh": "普通话",
    "seg_accordion": "分段",
    "max_tokens": "每段最多音素数",
    "max_tokens_info": "长文本先按句子、再按子句切分，使每段不超过这个音素数",
    "seg_table": "分段预览",
    "col_index": "序号",
    "col_lang": "语言",
    "col_text": "文本",
    "col_tokens": "音素数",
    "seg_loading": "（模型加载中…加载完成后显示预览）",
    "seg_empty": "（输入文本后可查看分段）",
    "adv_accordion": "高级设置",
    "pause": "段间静音（秒）",
    "no_seed": "没有随机种子设置：模型是确定性的，相同输入总是生成相同的音频。",
    "generate": "生成",
    "stop": "停止",
    "examples": "示例",
    "audio": "语音",
    "fmt": "下载格式",
    "download": "下载",
    "pitch": "音高（F0）",
    "pitch_time": "时间（秒）",
    "pitch_hz": "音高（赫兹）",
    "pitch_segment": "分段",
    "history": "历史记录（本次会话）",
    "history_hint": "选中一行即可重新播放。",
    "history_files": "本次会话的全部文件",
    "col_time": "时间",
    "col_voice": "音色",
    "col_duration": "时长（秒）",
    "col_rtf": "实时率",
    "status_loading": "○ 模型加载中…（加载完成后即可生成）",
    "status_failed": "× 模型加载失败：{error}",
    "status_ready": "● 就绪 · 设备 **{device}** · 模型 **{model}**",
    "status_rtf": " · 上次生成：{audio:.1f} 秒音频，用时 {compute:.1f} 秒（实时率 {rtf:.2f}）",
    "progress_segment": "第 {i} 段，共 {n} 段",
    "err_loading": "模型仍在加载，请几秒后再试。",
    "err_internal": "生成意外失败（{error}），详情见服务器日志。",
    "err_no_output": "请先生成语音。",
}

TABLES: dict[str, dict[str, str]] = {"en": EN, "zh": ZH}


def normalize_lang(lang: str | None) -> str:
    """A browser tag ('zh-CN', 'en-US', None) -> one of UI_LANGS."""
    return "zh" if (lang or "").lower().startswith("zh") else DEFAULT_UI_LANG


def t(lang: str | None, key: str, **values: object) -> str:
    text = TABLES[normalize_lang(lang)][key]
    return text.format(**values) if values else text
