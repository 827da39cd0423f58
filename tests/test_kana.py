"""kenshin.kana: the stored kana form and the matching key of FORMATS.md."""
import pytest

from kenshin.core.kana import (
    KanaError,
    is_hiragana_or_katakana,
    kana_key,
    kana_prefix_key,
    normalize_kana,
)

# --- normalize_kana: what is stored ------------------------------------------


@pytest.mark.parametrize(
    "text, stored",
    [
        ("ヤマダ　タロウ", "ヤマダ　タロウ"),
        ("やまだ　たろう", "ヤマダ　タロウ"),  # hiragana
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ　タロウ"),  # half-width with dakuten
        ("ﾊﾟｸ ｼﾞﾕﾝ", "パク　ジユン"),  # half-width handakuten
        ("ｶﾞｯｺｳ", "ガッコウ"),
        ("ヤマダ タロウ", "ヤマダ　タロウ"),  # half-width space
        ("  ヤマダ 　  タロウ\u3000", "ヤマダ　タロウ"),  # runs collapsed, ends stripped
        ("ヤマダタロウ", "ヤマダタロウ"),  # no space is kept as no space
        ("スミス・ジョン", "スミス・ジョン"),
        ("ｽﾐｽ･ｼﾞｮﾝ", "スミス・ジョン"),  # half-width ･
        ("サトー　ユーコ", "サトー　ユーコ"),
        ("ｻﾄｰ ﾕｰｺ", "サトー　ユーコ"),  # half-width ｰ
        ("やまだ タロウ", "ヤマダ　タロウ"),  # mixed scripts
        ("ゔぃヴィ", "ヴィヴィ"),
        ("カ゛ッコウ", "ガッコウ"),  # a separate ゛ joins the kana before it
        ("ﾊ゜ン", "パン"),
        ("みすゞ", "ミスヾ"),  # iteration mark kept as written
        ("ヤマダ　ジロウ　サブロウ", "ヤマダ　ジロウ　サブロウ"),
    ],
)
def test_kana_is_stored_as_full_width_katakana(text, stored):
    assert normalize_kana(text) == stored


def test_stored_form_is_stable():
    stored = normalize_kana("ﾔﾏﾀﾞ   ﾀﾛｳ")
    assert normalize_kana(stored) == stored


@pytest.mark.parametrize(
    "text, bad",
    [
        ("山田　タロウ", "山"),  # kanji
        ("ヤマダ　太郎", "太"),
        ("YAMADA", "Y"),  # Latin
        ("ヤマダ　Ｔａｒｏ", "Ｔ"),  # full-width Latin, named as written
        ("ヤマダ2", "2"),  # digits
        ("ヤマダ２", "２"),
        ("ヤマダ-タロウ", "-"),  # a hyphen is not ー
        ("ヤマダ、タロウ", "、"),
        ("ヤマダ（タロウ）", "（"),
        ("ヤマダ\tタロウ", "U+0009"),
        ("ア゛", "゛"),  # a ゛ that makes no kana
    ],
)
def test_anything_but_kana_is_rejected_naming_the_first_bad_character(text, bad):
    with pytest.raises(KanaError) as err:
        normalize_kana(text)
    assert str(err.value) == f"カナ以外の文字が含まれています: {bad}"


@pytest.mark.parametrize("text", ["", "   ", "\u3000\u3000", None])
def test_empty_kana_is_rejected(text):
    with pytest.raises(KanaError):
        normalize_kana(text)


@pytest.mark.parametrize("text", ["ー", "・", "ー　・"])
def test_kana_without_any_letter_is_rejected(text):
    with pytest.raises(KanaError):
        normalize_kana(text)


def test_sixty_characters_are_accepted():
    assert len(normalize_kana("ア" * 60)) == 60
    assert normalize_kana("ア" * 29 + " " + "イ" * 30) == "ア" * 29 + "　" + "イ" * 30


def test_more_than_sixty_characters_after_normalisation_are_rejected():
    with pytest.raises(KanaError, match="60文字"):
        normalize_kana("ア" * 61)
    with pytest.raises(KanaError):
        normalize_kana("ア" * 30 + "　" + "イ" * 30)  # the space counts


def test_length_is_counted_after_normalisation():
    # 120 half-width characters (60 kana, each with its ﾞ) become 60 full-width ones
    assert normalize_kana("ｶﾞ" * 60) == "ガ" * 60
    # extra spaces collapse before the count
    assert len(normalize_kana("ア" * 30 + "     " + "イ" * 29)) == 60


def test_kana_error_is_a_value_error():
    assert issubclass(KanaError, ValueError)


@pytest.mark.parametrize(
    "text, ok",
    [
        ("やまだ", True),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", True),
        ("ヤマダ・タロウ", True),
        ("山田", False),
        ("", False),
        ("ー", False),
        ("ヤマダ1", False),
    ],
)
def test_is_hiragana_or_katakana(text, ok):
    assert is_hiragana_or_katakana(text) is ok


# --- kana_key: FORMATS.md -------------------------------------------------------

@pytest.mark.parametrize(
    "text, key",
    [
        ("ヤマダ　タロウ", "ヤマダタロウ"),
        ("やまだ たろう", "ヤマダタロウ"),  # hiragana -> katakana, spaces removed
        ("ﾔﾏﾀﾞﾀﾛｳ", "ヤマダタロウ"),  # NFKC: half-width with dakuten joins up
        ("ｶﾞ", "ガ"),
        ("ﾊﾟ", "パ"),
        ("スミス・ジョン", "スミスジヨン"),  # ・ removed, ョ full-size
        ("サトー", "サト"),  # ー removed
        ("ァィゥェォ", "アイウエオ"),
        ("ッ", "ツ"),
        ("ャュョ", "ヤユヨ"),
        ("ヮヵヶ", "ワカケ"),
        ("ぁぃぅぇぉっゃゅょゎゕゖ", "アイウエオツヤユヨワカケ"),
        ("ヴ", "ブ"),
        ("ゔ", "ブ"),
        ("ヰ", "イ"),
        ("ヱ", "エ"),
        ("ヲ", "オ"),
        ("を", "オ"),
    ],
)
def test_kana_key_follows_formats_md(text, key):
    assert kana_key(text) == key


@pytest.mark.parametrize(
    "a, b",
    [
        ("キャノン", "キヤノン"),  # small ャ is full-size in the key
        ("ヴァイオリン", "ブァイオリン"),  # ヴ→ブ, then ァ→ア
        ("ヴェール", "ブエール"),
        ("イトウ", "イトウ"),
        ("ハットリ", "ハツトリ"),
        ("やまだ　たろう", "ﾔﾏﾀﾞ ﾀﾛｳ"),
        ("サトー", "サト"),
        ("ヰセキ", "イセキ"),
        ("ヱビス", "エビス"),
        ("ヲノ", "オノ"),
        ("スミス・ジョン", "スミスジョン"),
        ("ヤマダ　タロウ", "ヤマダタロウ"),
        ("みすゞ", "ミスズ"),
        ("さゝき", "ササキ"),
    ],
)
def test_kana_that_should_match_have_equal_keys(a, b):
    assert kana_key(a) == kana_key(b)


@pytest.mark.parametrize(
    "a, b",
    [
        ("サトウ", "サトー"),  # ウ is a letter, ー is not
        ("カト", "カド"),
        ("ハラ", "パラ"),
        ("ヤマダ", "ヤマタ"),
        ("オオノ", "オノ"),
        ("ヴァイオリン", "バイオリン"),  # the FORMATS.md key is letter by letter: ブア ≠ バ
    ],
)
def test_different_kana_keep_different_keys(a, b):
    assert kana_key(a) != kana_key(b)


@pytest.mark.parametrize("dash", ["ー", "ｰ", "-", "‐", "―", "−", "－", "—", "–", "〜", "～"])
def test_dash_look_alikes_are_removed_like_cho_on(dash):
    assert kana_key(f"サト{dash}ユ{dash}コ") == "サトユコ"


@pytest.mark.parametrize("space", [" ", "\u3000", "  ", "\t", "\u00a0"])
def test_any_space_is_removed_from_the_key(space):
    assert kana_key(f"ヤマダ{space}タロウ") == "ヤマダタロウ"


def test_key_of_the_stored_form_equals_key_of_the_raw_form():
    for raw in ["ｷｬﾉﾝ ﾀﾛｳ", "きゃのん　たろう", "ヴァン・ダイク", "ｻﾄｰ  ﾕｰｺ"]:
        assert kana_key(normalize_kana(raw)) == kana_key(raw)


def test_key_is_idempotent():
    for raw in ["ｷｬﾉﾝ ﾀﾛｳ", "ヴァン・ダイク", "みすゞ", "ッャュョ"]:
        assert kana_key(kana_key(raw)) == kana_key(raw)


# --- kana_prefix_key: search box -------------------------------------------------

@pytest.mark.parametrize(
    "text, key",
    [
        ("", ""),
        (None, ""),
        ("   ", ""),
        ("abc", ""),
        ("山田", ""),
        ("ﾞ", ""),  # a lone dakuten typed first
        ("さと", "サト"),
        ("ｷｬ", "キヤ"),
        ("ヤマダ　タ", "ヤマダタ"),
        ("ヤマダ ﾀ", "ヤマダタ"),
        ("サトー", "サト"),
        ("やまだ1", "ヤマダ"),
    ],
)
def test_prefix_key_is_tolerant_of_partial_input(text, key):
    assert kana_prefix_key(text) == key


def test_prefix_key_is_a_prefix_of_the_full_key():
    full = kana_key(normalize_kana("キャノン　タロウ"))
    for typed in ["き", "きゃ", "きゃの", "ｷｬﾉﾝ ﾀ", "キャノン　タロウ"]:
        assert full.startswith(kana_prefix_key(typed))
