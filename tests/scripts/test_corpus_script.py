"""scripts/make_common_voice_sample.py: its sentence lists and pinyin readings (no espeak-ng run)."""

from __future__ import annotations

import sys

import pytest

from tests.scratch_project import PROJECT_ROOT
from tests.support import read_tsv


@pytest.fixture(scope="module")
def scripts():
    """The corpus script and its espeak-ng helpers, imported by plain name as the script does."""
    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
    try:
        import espeak_synthesis  # noqa: PLC0415
        import make_common_voice_sample  # noqa: PLC0415
    finally:
        sys.path.remove(str(PROJECT_ROOT / "scripts"))
    return make_common_voice_sample, espeak_synthesis


def test_sentence_lists_are_valid_split_disjoint_and_those_of_the_bundled_corpus(
    scripts, bundled_corpus
):
    corpus_script, _ = scripts
    corpus_script.validate_sentences()  # sizes, 5-12 CJK characters, no sentence in two splits
    for split, sentences in corpus_script.SPLITS.items():
        rows = read_tsv(bundled_corpus / f"{split}.tsv")
        assert list(dict.fromkeys(row["sentence"] for row in rows)) == sentences, split


def test_every_corpus_sentence_has_one_pinyin_syllable_per_character(scripts):
    pytest.importorskip("pypinyin")
    corpus_script, espeak = scripts
    for sentences in corpus_script.SPLITS.values():
        for sentence in sentences:
            assert len(espeak.to_pinyin(sentence).split()) == len(sentence), sentence


def test_polyphones_and_tone_changes_of_the_corpus_get_their_everyday_reading(scripts):
    pytest.importorskip("pypinyin")
    _, espeak = scripts
    readings = {
        "这条路很长": "zhe4 tiao2 lu4 hen3 chang2",
        "这只鸟会说话": "zhe4 zhi1 niao3 hui4 shuo1 hua4",
        "我家有一只小猫": "wo3 jia1 you3 yi4 zhi1 xiao3 mao1",
        "姐姐在银行工作": "jie3 jie5 zai4 yin2 hang2 gong1 zuo4",
        "这里的东西很便宜": "zhe4 li3 de5 dong1 xi5 hen3 pian2 yi5",
        "他跑得非常快": "ta1 pao3 de5 fei1 chang2 kuai4",
        "这里不能停车": "zhe4 li3 bu4 neng2 ting2 che1",
        "她买了一件新衣服": "ta1 mai3 le5 yi2 jian4 xin1 yi1 fu5",
    }
    for sentence, reading in readings.items():
        assert espeak.to_pinyin(sentence) == reading, sentence
