import pytest

from peft_pipelines.speech.metrics import (
    character_error_rate,
    normalise_transcript,
    word_error_rate,
)


def test_one_wrong_character_in_four_is_a_cer_of_a_quarter():
    assert character_error_rate(["你好世界"], ["你好世届"]) == pytest.approx(0.25)


def test_insertions_push_error_rates_above_one_and_are_not_clipped():
    assert character_error_rate(["你好"], ["你好你好你好啊"]) == pytest.approx(2.5)
    assert word_error_rate(["hello"], ["hello there my old friend"]) == pytest.approx(4.0)


def test_wer_on_chinese_counts_whole_sentences():
    assert word_error_rate(["你好世界", "今天很好"], ["你好世届", "今天很好"]) == pytest.approx(0.5)


def test_punctuation_full_width_forms_and_case_are_normalised_on_both_sides():
    assert normalise_transcript("你好，世界！ＡＢＣ") == "你好 世界 abc"
    assert character_error_rate(["你好，世界！"], ["你好世界"]) == 0.0
    assert character_error_rate(["ＡＢＣ"], ["abc"]) == 0.0


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="2 references but 1 predictions"):
        character_error_rate(["a", "b"], ["a"])


def test_traditional_script_is_scored_as_simplified_on_both_sides():
    # whisper-base often answers in Traditional characters: not an error of hearing.
    assert normalise_transcript("今天晚上月亮很圓，我們說話。") == "今天晚上月亮很圆 我们说话"
    assert character_error_rate(["今天晚上月亮很圆"], ["今天晚上月亮很圓"]) == 0.0
    assert character_error_rate(["我们说话"], ["我們說話吧"]) == pytest.approx(0.25)


def test_a_unit_said_four_or_more_times_in_a_row_is_a_loop_cut_to_one_copy():
    from peft_pipelines.speech.transcribe import collapse_repetitions  # noqa: PLC0415

    assert collapse_repetitions("奶奶奶奶奶奶奶奶") == ("奶", True)
    assert collapse_repetitions("哪儿哪儿哪儿哪儿哪儿") == ("哪儿", True)
    assert collapse_repetitions("我奶奶说谢谢") == ("我奶奶说谢谢", False)
    assert collapse_repetitions("") == ("", False)
