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
    "no_seed": "The model is deterministic: the same input always gives the same audio (the emotion seed only "
               "matters with random variation on).",
    # emotion
    "emo_accordion": "Emotion",
    "emo_help": "Emotion changes **prosody only**: pitch level, range and contour, loudness, tempo and pauses, "
                "through the model's own duration, pitch and energy predictions. The timbre stays the voice's. "
                "Each emotion follows published findings on vocal emotion (README, \"Emotion\").",
    "emo_mode": "Emotion mode",
    "emo_mode_voice": "Same as the voice",
    "emo_mode_reference": "From a reference clip",
    "emo_mode_vector": "Emotion sliders",
    "emo_mode_text": "Text description",
    "emo_happy": "Happy",
    "emo_angry": "Angry",
    "emo_sad": "Sad",
    "emo_afraid": "Afraid",
    "emo_disgusted": "Disgusted",
    "emo_melancholic": "Melancholic",
    "emo_surprised": "Surprised",
    "emo_calm": "Calm",
    "emo_weight": "Emotion weight",
    "emo_weight_info": "0 = neutral, 1 = the full profile (IndexTTS2's emo_alpha)",
    "emo_text": "Emotion description",
    "emo_text_placeholder": "e.g. 有点难过 / excited and a little scared",
    "emo_resolved": "Read as: {vector}",
    "emo_resolved_none": "Type a description to see how it is read.",
    "emo_reference": "Emotion reference clip",
    "emo_reference_info": "Its pitch level and range, loudness, tempo and pausing are measured and transferred "
                          "(1-60 s of speech); its voice is not copied.",
    "emo_random": "Random variation",
    "emo_seed": "Seed",
    "emo_seed_info": "With random variation: the same seed gives the same audio",
    "generate": "Generate",
    "stop": "Stop",
    "examples": "Examples",
    # output
    "live": "Live playback (starts with the first segment)",
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
    # voice cloning and the voice library
    "clone_accordion": "Voice cloning (reference clip)",
    "clone_ref": "Reference clip: upload or record 5-15 s of one speaker",
    "clone_button": "Clone",
    "clone_result": "Cloned as **{voice}** (closest stock voice {base}; speaker similarity {sim_base} → {sim}; "
                    "pitch {f0_ref} Hz in the clip, {f0_out} Hz in the clone; fit {fit_s} s{cached}). "
                    "It is selected in the voice list; give it a name and Save to keep it.",
    "clone_cached": ", reused: this clip was fitted before",
    "clone_no_ref": "Upload or record a reference clip first.",
    "clone_progress": "Fitting the voice",
    "clone_name": "Name for the saved voice",
    "clone_save": "Save to library",
    "clone_saved": "Saved as **{name}**.",
    "clone_nothing": "Clone a voice first.",
    "clone_note": "**What cloning captures, and what it does not.** Kokoro has no cloning model: the clip is "
                  "turned into one of Kokoro's own 256-number voice styles, fitted to match the clip's overall "
                  "timbre and pitch level (measured with a speaker-recognition model), and a per-voice pitch "
                  "correction brings its median pitch close to the clip's (within 1 semitone on 7 of 7 test voices). "
                  "It gets the voice *in the direction* of the reference (on unseen test voices about 0.82 speaker "
                  "similarity, against ~0.60 for the best stock voice), but not the exact identity: accent, speaking "
                  "rhythm, intonation, emotion, microphone and room are not copied, and the result sounds like a "
                  "Kokoro voice. A check holds the fit back when the clone stops articulating clearly; still, listen "
                  "before you use a clone: some voices come out much less similar (one of 7 test voices at 0.75). "
                  "Only clone voices you have permission to use.",
    "lib_accordion": "Voice library",
    "lib_voice": "Saved voice",
    "lib_new_name": "New name",
    "lib_rename": "Rename",
    "lib_delete": "Delete",
    "lib_export": "Export (.zip)",
    "lib_import_file": "Import a voice (.zip)",
    "lib_import": "Import",
    "lib_done": "Done: {what}.",
    "blend_a": "Voice A",
    "blend_b": "Voice B",
    "blend_weight": "Share of voice B",
    "blend_name": "Name of the blend",
    "blend_button": "Blend and save",
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
    "no_seed": "模型是确定性的：相同输入总是生成相同的音频（情感种子只在开启随机变化时起作用）。",
    "emo_accordion": "情感",
    "emo_help": "情感只改变**韵律**：音高的高低、起伏和走向，响度，语速和停顿，通过模型自身的时长、音高和能量预测实现。"
                "音色仍是所选音色。每种情感都依据已发表的语音情感研究（见 README“Emotion”一节）。",
    "emo_mode": "情感模式",
    "emo_mode_voice": "与音色相同",
    "emo_mode_reference": "使用情感参考音频",
    "emo_mode_vector": "情感滑块",
    "emo_mode_text": "文字描述",
    "emo_happy": "喜",
    "emo_angry": "怒",
    "emo_sad": "哀",
    "emo_afraid": "惧",
    "emo_disgusted": "厌恶",
    "emo_melancholic": "低落",
    "emo_surprised": "惊喜",
    "emo_calm": "平静",
    "emo_weight": "情感权重",
    "emo_weight_info": "0 为中性，1 为完整情感（即 IndexTTS2 的 emo_alpha）",
    "emo_text": "情感描述",
    "emo_text_placeholder": "例如：有点难过 / excited and a little scared",
    "emo_resolved": "解析结果：{vector}",
    "emo_resolved_none": "输入描述即可查看解析结果。",
    "emo_reference": "情感参考音频",
    "emo_reference_info": "测量并迁移它的音高高低与起伏、响度、语速和停顿（1-60 秒语音）；不复制其音色。",
    "emo_random": "随机变化",
    "emo_seed": "种子",
    "emo_seed_info": "开启随机变化时：相同种子生成相同音频",
    "generate": "生成",
    "stop": "停止",
    "examples": "示例",
    "live": "实时播放（第一段生成后即开始）",
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
    # voice cloning and the voice library
    "clone_accordion": "声音克隆（参考音频）",
    "clone_ref": "参考音频：上传或录制同一说话人的 5-15 秒语音",
    "clone_button": "克隆",
    "clone_result": "已克隆为 **{voice}**（最接近的内置声音 {base}；说话人相似度 {sim_base} → {sim}；"
                    "参考音高 {f0_ref} Hz，克隆音高 {f0_out} Hz；拟合 {fit_s} 秒{cached}）。"
                    "已在声音列表中选中；起个名字并保存即可保留。",
    "clone_cached": "，复用：此音频之前已拟合过",
    "clone_no_ref": "请先上传或录制参考音频。",
    "clone_progress": "正在拟合声音",
    "clone_name": "保存的声音名称",
    "clone_save": "保存到声音库",
    "clone_saved": "已保存为 **{name}**。",
    "clone_nothing": "请先克隆一个声音。",
    "clone_note": "**克隆能做到什么、做不到什么。** Kokoro 本身没有克隆模型：参考音频会被转换成 Kokoro 自己的 "
                  "256 维声音风格，拟合目标是音频的整体音色和音高水平（用说话人识别模型衡量），再按每个声音的音高校正"
                  "把中位音高调到接近参考音频（7 个测试声音全部相差不到 1 个半音）。结果会*接近*参考声音"
                  "（在未参与调参的测试声音上说话人相似度约 0.82，最接近的内置声音约 0.60），但不是完全相同的身份："
                  "口音、说话节奏、语调、情绪、麦克风和房间声学都不会被复制，听起来仍是 Kokoro 的声音。"
                  "当克隆的发音变得不清晰时，检查会让拟合退回一些；但使用前仍请先试听：有些声音的相似度明显更低"
                  "（7 个测试声音中有 1 个只有 0.75）。请只克隆你有权使用的声音。",
    "lib_accordion": "声音库",
    "lib_voice": "已保存的声音",
    "lib_new_name": "新名称",
    "lib_rename": "重命名",
    "lib_delete": "删除",
    "lib_export": "导出（.zip）",
    "lib_import_file": "导入声音（.zip）",
    "lib_import": "导入",
    "lib_done": "完成：{what}。",
    "blend_a": "声音 A",
    "blend_b": "声音 B",
    "blend_weight": "声音 B 的比例",
    "blend_name": "混合声音的名称",
    "blend_button": "混合并保存",
    "err_no_output": "请先生成语音。",
}

TABLES: dict[str, dict[str, str]] = {"en": EN, "zh": ZH}


def normalize_lang(lang: str | None) -> str:
    """A browser tag ('zh-CN', 'en-US', None) -> one of UI_LANGS."""
    return "zh" if (lang or "").lower().startswith("zh") else DEFAULT_UI_LANG


def t(lang: str | None, key: str, **values: object) -> str:
    text = TABLES[normalize_lang(lang)][key]
    return text.format(**values) if values else text
