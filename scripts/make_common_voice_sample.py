"""Build ``data/01_raw/common_voice_zh_sample``: a tiny synthetic Mandarin corpus in Common Voice's layout.

Why this exists
---------------
The pipelines read Mozilla Common Voice releases (``train.tsv`` / ``dev.tsv`` /
``test.tsv`` next to a ``clips/`` folder of 48 kHz mono MP3s). Real Common Voice
audio cannot be bundled or downloaded here, so this script writes a small
stand-in with exactly that layout: 150 original everyday sentences in
simplified Chinese (100 train / 25 dev / 25 test, no sentence in two splits),
spoken by espeak-ng: each train sentence by all five voices (500 clips), each
dev and test sentence by one (550 clips in all).

How the audio is made
---------------------
* espeak-ng's ``cmn-latn-pinyin`` voice variants ``+m1``, ``+f3``, ``+m3``,
  ``+f2`` and ``+m5`` at different speeds and pitches (``CORPUS_VOICES``),
  assigned round-robin.
* Sentences are spoken from pinyin with tone digits
  (``espeak_synthesis.py`` next to this script: pypinyin plus tone-change fixes),
  and espeak's phonemes are checked to be Mandarin only, one syllable per
  character.
* The 22.05 kHz wav is resampled to 48 kHz with soxr and written as MP3
  (libsndfile/LAME through soundfile, constant ~56 kbps mono).
* Every decoded clip must be 48 kHz, mono and at most ``MAX_CLIP_SECONDS``
  long (the model has a 5 s input window); otherwise the script fails.

The corpus is built in a temporary folder and only then replaces ``--out``, so
a failed run leaves the previous corpus untouched. Output is deterministic.

Regenerate
----------
    apt-get install espeak-ng                      # Debian: espeak-ng 1.51
    .venv/bin/pip install pypinyin                 # script-only dependency
    .venv/bin/python scripts/make_common_voice_sample.py --out data/01_raw/common_voice_zh_sample
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import importlib.util
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

# espeak_synthesis.py lies next to this script (Python puts the script's folder on sys.path).
from espeak_synthesis import ESPEAK, Voice, synthesize

# The same column list the pipeline reads, so the sample cannot drift from it.
from peft_pipelines.io.common_voice import COMMON_VOICE_COLUMNS

LOCALE = "zh-CN"
CLIP_PREFIX = f"common_voice_{LOCALE}_synthetic_"
TSV_COLUMNS = list(COMMON_VOICE_COLUMNS)
TARGET_SAMPLE_RATE = 48_000
MAX_CLIP_SECONDS = 4.5
# libsndfile maps 0..1 onto LAME's bitrates; 0.9 gives ~56 kbps CBR mono.
MP3_COMPRESSION_LEVEL = 0.9
# Each train sentence is spoken by this many of the corpus's voices (dev and test by one).
TRAIN_VOICES_PER_SENTENCE = 5

CORPUS_VOICES: list[Voice] = [
    {"voice": "cmn-latn-pinyin+m1", "speed": 165, "pitch": 50, "gender": "male"},
    {"voice": "cmn-latn-pinyin+f3", "speed": 160, "pitch": 60, "gender": "female"},
    {"voice": "cmn-latn-pinyin+m3", "speed": 175, "pitch": 40, "gender": "male"},
    {"voice": "cmn-latn-pinyin+f2", "speed": 170, "pitch": 70, "gender": "female"},
    {"voice": "cmn-latn-pinyin+m5", "speed": 155, "pitch": 45, "gender": "male"},
]

TRAIN_SENTENCES: list[str] = [
    "今天天气很好",
    "我想喝一杯水",
    "他每天早上跑步",
    "我们一起去吃饭吧",
    "这本书很有意思",
    "妈妈在厨房做饭",
    "请把门关上",
    "明天我要去上班",
    "你喜欢吃水果吗",
    "外面下雨了",
    "我的手机没电了",
    "他是我的好朋友",
    "这个苹果很甜",
    "我们坐公交车回家",
    "孩子们在公园里玩",
    "晚上我想看电影",
    "你住在哪个城市",
    "这家商店关门了",
    "爸爸喜欢喝茶",
    "我今天有点累",
    "她唱歌很好听",
    "请问现在几点了",
    "我们下午三点见面",
    "这条路很长",
    "冬天的早上很冷",
    "我忘了带钥匙",
    "他在图书馆看书",
    "你的衣服很漂亮",
    "我家有一只小猫",
    "周末我们去爬山",
    "老师正在上课",
    "我想买一双新鞋",
    "这道菜有点辣",
    "他开车去学校",
    "我们明天早上出发",
    "桌子上有一个杯子",
    "她每天都学习中文",
    "电脑坏了需要修理",
    "我喜欢听音乐",
    "今天的作业很多",
    "朋友送我一束花",
    "你可以帮我一下吗",
    "火车马上就要开了",
    "我们在河边散步",
    "弟弟比我高一点",
    "这件事情很重要",
    "奶奶住在农村",
    "超市里的人很多",
    "我明天要去医院",
    "他的声音很大",
    "窗外有一棵大树",
    "请慢一点说",
    "我们家离学校很近",
    "这个房间很干净",
    "姐姐在银行工作",
    "小狗在门口睡觉",
    "我每天喝两杯咖啡",
    "春天来了花都开了",
    "他昨天没有来上课",
    "你想去哪里旅游",
    "我的生日在八月",
    "这座山非常高",
    "请给我一张纸",
    "我们晚上吃面条",
    "他正在打电话",
    "天黑了快回家吧",
    "这些水果很新鲜",
    "我不太会做饭",
    "她的眼睛很大",
    "我们一起打篮球",
    "飞机晚点了",
    "他喜欢画画",
    "这个问题很简单",
    "今天路上车很多",
    "我想休息一下",
    "她每天骑自行车上班",
    "教室里非常安静",
    "我们需要买点米",
    "哥哥在国外读书",
    "这双鞋有点小",
    "你听懂了吗",
    "他跑得非常快",
    "我们明年去北京",
    "早饭吃鸡蛋和牛奶",
    "我的房间在二楼",
    "今天是星期五",
    "这个孩子很聪明",
    "请打开窗户",
    "我找不到我的书包",
    "他们在开会",
    "海边的风很大",
    "我每天晚上十点睡觉",
    "这里的东西很便宜",
    "你会说中文吗",
    "妹妹喜欢跳舞",
    "我们坐地铁去吧",
    "他的工作很忙",
    "这碗汤太热了",
    "我想学做蛋糕",
    "明天可能会下雪",
]

DEV_SENTENCES: list[str] = [
    "昨天晚上我没睡好",
    "你吃早饭了吗",
    "他家有三个孩子",
    "这个周末有空吗",
    "我在等公交车",
    "她买了一件新衣服",
    "楼下有一家小店",
    "我们一起唱首歌",
    "今年夏天特别热",
    "请坐下来喝杯茶",
    "他每天都很早起床",
    "这只鸟会说话",
    "我的朋友住在上海",
    "你的电话号码是多少",
    "爷爷每天看报纸",
    "我们明天去看他",
    "这里不能停车",
    "她的字写得很好",
    "外面的风停了",
    "我把作业做完了",
    "他想当一名医生",
    "这家饭店的菜很好吃",
    "我们家养了一条鱼",
    "下午我们去游泳",
    "他的房子很大",
]

TEST_SENTENCES: list[str] = [
    "今天晚上月亮很圆",
    "我想给妈妈打电话",
    "你每天几点起床",
    "这个包太重了",
    "他在公司上班",
    "我们一起去买菜",
    "小明的作文写得很好",
    "天气预报说明天晴",
    "我的杯子在哪里",
    "她每天早上喝牛奶",
    "这张桌子很旧",
    "我们坐船过河",
    "他给我讲了一个故事",
    "晚饭后我们去散步",
    "这部电影非常好看",
    "我的车停在楼下",
    "请你大声一点",
    "老人在树下下棋",
    "这个西瓜很大",
    "我明天要去机场",
    "孩子们都很开心",
    "这里的冬天不太冷",
    "他学习非常努力",
    "我们下周去看奶奶",
    "门口有人在等你",
]

SPLITS: dict[str, list[str]] = {
    "train": TRAIN_SENTENCES,
    "dev": DEV_SENTENCES,
    "test": TEST_SENTENCES,
}

_SENTENCE_RE = re.compile(r"^[\u4e00-\u9fff]{5,12}$")


def validate_sentences() -> None:
    """Fail unless the split sizes, lengths, characters and disjointness hold."""
    expected = {"train": 100, "dev": 25, "test": 25}
    for split, sentences in SPLITS.items():
        if len(sentences) != expected[split]:
            raise ValueError(f"{split}: {len(sentences)} sentences, expected {expected[split]}")
        for sentence in sentences:
            if not _SENTENCE_RE.match(sentence):
                raise ValueError(f"{split}: {sentence!r} is not 5-12 CJK characters")
    everything = [s for sentences in SPLITS.values() for s in sentences]
    duplicates = sorted({s for s in everything if everything.count(s) > 1})
    if duplicates:
        raise ValueError(f"sentences used twice: {duplicates}")


def synthesize_48k(voice: Voice, sentence: str, wav_path: Path) -> np.ndarray:
    """Speak ``sentence`` with espeak-ng (checked to be Mandarin syllables); 48 kHz mono float32."""
    audio, sample_rate = synthesize(sentence, voice, wav_path)
    return soxr.resample(audio, sample_rate, TARGET_SAMPLE_RATE).astype(np.float32)


def client_id(voice: Voice) -> str:
    """Stable 128-hex-digit id per voice variant (Common Voice ids are sha512 hex)."""
    key = f"{voice['voice']}|s{voice['speed']}|p{voice['pitch']}"
    return hashlib.sha512(key.encode("utf-8")).hexdigest()


def votes(sentence: str) -> tuple[int, int]:
    """Small deterministic up/down votes, up > down as in a validated clip."""
    digest = hashlib.sha256(sentence.encode("utf-8")).digest()
    return 2 + digest[0] % 3, digest[1] % 2


def check_clip(path: Path) -> float:
    """Decode ``path``; fail unless 48 kHz mono and short enough. Returns seconds."""
    audio, sample_rate = sf.read(path, always_2d=True)
    if sample_rate != TARGET_SAMPLE_RATE or audio.shape[1] != 1:
        raise RuntimeError(f"{path.name}: {sample_rate} Hz, {audio.shape[1]} channels")
    seconds = audio.shape[0] / sample_rate
    if seconds > MAX_CLIP_SECONDS:
        raise RuntimeError(
            f"{path.name}: {seconds:.2f} s > {MAX_CLIP_SECONDS} s; raise that voice's speed"
        )
    return seconds


def write_clip(
    writer, clips_dir: Path, *, clip_number: int, voice: Voice, sentence: str, wav_path: Path
) -> float:
    """Speak ``sentence`` in ``voice`` as clip ``clip_number``, add its TSV row; return its duration."""
    clip_name = f"{CLIP_PREFIX}{clip_number:06d}.mp3"
    audio = synthesize_48k(voice, sentence, wav_path)
    sf.write(
        clips_dir / clip_name,
        audio,
        TARGET_SAMPLE_RATE,
        format="MP3",
        subtype="MPEG_LAYER_III",
        compression_level=MP3_COMPRESSION_LEVEL,
        bitrate_mode="CONSTANT",
    )
    up_votes, down_votes = votes(sentence)
    writer.writerow(
        [
            client_id(voice),
            clip_name,
            sentence,
            up_votes,
            down_votes,
            "",
            voice["gender"],
            "",
            LOCALE,
            "",
        ]
    )
    return check_clip(clips_dir / clip_name)


def build(out_dir: Path) -> dict[str, list[float]]:
    """Write the whole corpus into ``out_dir`` (which must be empty); return durations.

    Every sentence is first spoken once, voices assigned round-robin (clips 1-150).
    Then each train sentence is spoken again in the other voices
    (``TRAIN_VOICES_PER_SENTENCE`` in all), numbered on from there, as Common Voice
    has several speakers reading one sentence: 20 training clips per voice were too
    few for LoRA to adapt a base model to a new voice. Dev and test keep one clip
    per sentence.
    """
    clips_dir = out_dir / "clips"
    clips_dir.mkdir(parents=True)
    # (split, voice, sentence) in clip-number order: every sentence once, voices
    # round-robin; then the train sentences again in the voices after their first.
    once = [(split, sentence) for split in SPLITS for sentence in SPLITS[split]]
    plan = [(split, i % len(CORPUS_VOICES), sentence) for i, (split, sentence) in enumerate(once)]
    first_voice = {sentence: voice for _, voice, sentence in plan}
    plan += [
        ("train", (first_voice[sentence] + offset) % len(CORPUS_VOICES), sentence)
        for sentence in SPLITS["train"]
        for offset in range(1, TRAIN_VOICES_PER_SENTENCE)
    ]
    durations: dict[str, list[float]] = {split: [] for split in SPLITS}
    with tempfile.TemporaryDirectory() as scratch, contextlib.ExitStack() as files:
        wav_path = Path(scratch) / "espeak.wav"
        writers = {}
        for split in SPLITS:
            handle = files.enter_context(
                (out_dir / f"{split}.tsv").open("w", encoding="utf-8", newline="")
            )
            writers[split] = csv.writer(
                handle, delimiter="\t", quoting=csv.QUOTE_NONE, lineterminator="\n"
            )
            writers[split].writerow(TSV_COLUMNS)
        for clip_number, (split, voice, sentence) in enumerate(plan, start=1):
            durations[split].append(
                write_clip(
                    writers[split],
                    clips_dir,
                    clip_number=clip_number,
                    voice=CORPUS_VOICES[voice],
                    sentence=sentence,
                    wav_path=wav_path,
                )
            )
    return durations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("data/01_raw/common_voice_zh_sample"),
        help="output folder; replaced entirely (default: %(default)s)",
    )
    args = parser.parse_args(argv)

    if shutil.which(ESPEAK) is None:
        sys.exit(f"{ESPEAK} not found: install it with `apt-get install espeak-ng`.")
    if importlib.util.find_spec("pypinyin") is None:
        sys.exit("pypinyin not found: install it with `.venv/bin/pip install pypinyin`.")
    validate_sentences()

    out_dir: Path = args.out.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        durations = build(staging / "corpus")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        (staging / "corpus").rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)

    all_durations = [d for split in durations.values() for d in split]
    for split, values in durations.items():
        print(f"{split}: {len(values)} clips")
    print(
        f"clip duration: max {max(all_durations):.2f} s, mean "
        f"{sum(all_durations) / len(all_durations):.2f} s -> {out_dir}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
