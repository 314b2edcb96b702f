from amparo.text import fold, has_words, strip_control, words


def test_fold_removes_accents_case_and_extra_space():
    assert fold("  Tá   BOM\n") == "ta bom"
    assert fold("¿Dónde está Cúcuta?") == "¿donde esta cucuta?"


def test_strip_control_drops_control_characters_but_keeps_spacing():
    assert strip_control("\x00ho\x07la\tque\u200btal") == " ho la\tque tal"


def test_words_keep_apostrophes_and_digits():
    assert words("I'm at Km 48, ok?") == ["i'm", "at", "km", "48", "ok"]


def test_has_words_is_false_for_what_nobody_can_read():
    assert not has_words("")
    assert not has_words("   ")
    assert not has_words("😀😀🙏")
    assert not has_words("?!... ---")
    assert not has_words("x" * 10_000)


def test_has_words_is_true_for_short_real_messages():
    assert has_words("k")
    assert has_words("ok 👍")
    assert has_words("\x00\x01hola\x07")
