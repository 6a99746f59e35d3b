"""The template sentences that the synthetic demo base is pretrained on."""

from __future__ import annotations

import random
import re

import pytest

from peft_pipelines.speech.synthetic_sentences import (
    generate_sentences,
    sentence_pool,
    splice_sentences,
)
from tests.conftest import BUNDLED_CORPUS, read_tsv

COUNT = 2800  # about what the whisper_demo_base pipeline draws
SENTENCE = re.compile(r"^[\u4e00-\u9fff]{5,12}$")


@pytest.fixture(scope="module")
def corpus_sentences() -> list[str]:
    """Every sentence of the bundled corpus (train, dev and test TSVs), once each."""
    rows = [
        row["sentence"]
        for split in ("train", "dev", "test")
        for row in read_tsv(BUNDLED_CORPUS / f"{split}.tsv")
    ]
    sentences = list(dict.fromkeys(rows))  # each train sentence has five clips
    assert (len(rows), len(sentences)) == (550, 150)
    return sentences


@pytest.fixture(scope="module")
def drawn(corpus_sentences: list[str]) -> list[str]:
    return generate_sentences(COUNT, seed=0, exclude=corpus_sentences)


def test_same_seed_gives_the_same_list_and_another_seed_another_order(drawn, corpus_sentences):
    assert generate_sentences(COUNT, seed=0, exclude=corpus_sentences) == drawn
    other = generate_sentences(COUNT, seed=1, exclude=corpus_sentences)
    assert other != drawn
    assert other[:50] != drawn[:50]


def test_sentences_are_unique_and_5_to_12_chinese_characters(drawn):
    assert len(drawn) == COUNT
    assert len(set(drawn)) == COUNT
    assert all(SENTENCE.match(sentence) for sentence in drawn), [
        s for s in drawn if not SENTENCE.match(s)
    ]


def test_pool_is_large_valid_and_in_a_fixed_order(corpus_sentences):
    pool = sentence_pool()
    assert pool == sentence_pool()
    assert len(pool) == len(set(pool))
    assert all(SENTENCE.match(sentence) for sentence in pool)
    assert len(set(pool) - set(corpus_sentences)) >= 6000


def test_no_corpus_sentence_is_drawn(drawn, corpus_sentences):
    assert not set(drawn) & set(corpus_sentences)


def test_every_character_of_the_corpus_is_drawn_several_times(drawn, corpus_sentences):
    corpus_characters = {char for sentence in corpus_sentences for char in sentence}
    holding = {char: sum(char in sentence for sentence in drawn) for char in corpus_characters}
    missing = sorted(char for char, count in holding.items() if count == 0)
    assert not missing, f"corpus characters never drawn: {''.join(missing)}"
    rare = sorted(char for char, count in holding.items() if count < 10)
    assert not rare, f"corpus characters in fewer than 10 drawn sentences: {''.join(rare)}"


def test_excluded_sentences_are_never_drawn_even_when_many():
    pool = sentence_pool()
    excluded = set(random.Random(0).sample(pool, len(pool) // 2))
    drawn = generate_sentences(500, seed=3, exclude=excluded)
    assert len(drawn) == 500
    assert not set(drawn) & excluded


def test_asking_for_more_than_the_pool_holds_is_an_error(corpus_sentences):
    available = len(set(sentence_pool()) - set(corpus_sentences))
    with pytest.raises(ValueError, match=f"only {available} that are not excluded"):
        generate_sentences(available + 1, seed=0, exclude=corpus_sentences)
    with pytest.raises(ValueError, match="count must be >= 0"):
        generate_sentences(-1, seed=0)
    assert generate_sentences(0, seed=0) == []


def test_every_sentence_of_a_sample_has_one_pinyin_syllable_per_character(drawn):
    pytest.importorskip("pypinyin")
    from peft_pipelines.speech.espeak import to_pinyin  # noqa: PLC0415

    for sentence in random.Random(0).sample(drawn, 300):
        syllables = to_pinyin(sentence).split()
        assert len(syllables) == len(sentence), sentence


def test_polyphones_of_the_templates_get_their_everyday_reading():
    pytest.importorskip("pypinyin")
    from peft_pipelines.speech.espeak import to_pinyin  # noqa: PLC0415

    readings = {
        "这条路非常长": "zhe4 tiao2 lu4 fei1 chang2 chang2",
        "她的头发真长": "ta1 de5 tou2 fa4 zhen1 chang2",
        "奶奶送她两只小猫": "nai3 nai5 song4 ta1 liang3 zhi1 xiao3 mao1",
        "这只狗比那只可爱": "zhe4 zhi1 gou3 bi3 na4 zhi1 ke3 ai4",
        "我早饭吃鸡蛋和面包": "wo3 zao3 fan4 chi1 ji1 dan4 he2 mian4 bao1",
        "我的哥哥是一名医生": "wo3 de5 ge1 ge5 shi4 yi4 ming2 yi1 sheng1",
        "这条路比那条干净": "zhe4 tiao2 lu4 bi3 na4 tiao2 gan1 jing4",
        "我在超市买东西": "wo3 zai4 chao1 shi4 mai3 dong1 xi5",
        "姐姐在银行取钱": "jie3 jie5 zai4 yin2 hang2 qu3 qian2",
        "他每天骑自行车上班": "ta1 mei3 tian1 qi2 zi4 xing2 che1 shang4 ban1",
        "我在家听音乐": "wo3 zai4 jia1 ting1 yin1 yue4",
        "祝你生日快乐": "zhu4 ni3 sheng1 ri4 kuai4 le4",
        "这里的东西很便宜": "zhe4 li3 de5 dong1 xi5 hen3 pian2 yi5",
        "我每天晚上九点睡觉": "wo3 mei3 tian1 wan3 shang4 jiu3 dian3 shui4 jiao4",
    }
    for sentence, reading in readings.items():
        assert to_pinyin(sentence) == reading, sentence


def test_spliced_sentences_join_a_head_and_a_tail_of_two_sources_and_are_new(drawn):
    sources = drawn[:300]
    exclude = set(drawn[300:])
    spliced = splice_sentences(sources, 200, seed=5, exclude=exclude)
    assert spliced == splice_sentences(sources, 200, seed=5, exclude=exclude)
    assert spliced != splice_sentences(sources, 200, seed=6, exclude=exclude)
    assert len(set(spliced)) == 200
    assert not set(spliced) & (set(sources) | exclude)
    for sentence in spliced:
        assert SENTENCE.match(sentence)
        assert any(
            any(sentence.startswith(head[:cut]) for head in sources)
            and any(tail.endswith(sentence[cut:]) for tail in sources)
            for cut in range(2, len(sentence) - 1)
        ), sentence
    assert splice_sentences(sources, 0, seed=0) == []
    with pytest.raises(ValueError, match="two distinct"):
        splice_sentences(["今天天气很好"], 1, seed=0)
    with pytest.raises(ValueError, match="only"):
        splice_sentences(["今天天气很好", "明天会下雨"], 50, seed=0)
