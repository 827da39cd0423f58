"""kenshin.names and kenshin.variants: the kanji name key that confirms a match."""
import unicodedata

import pytest

from kenshin.core.names import name_key, name_prefix_key
from kenshin.core.variants import VARIANTS

# Compatibility ideographs are written as escapes: editors and tools may apply NFC to
# source text, which would silently turn them into the unified character under test.
TATSUSAKI = "\ufa11"  # 﨑, which NFC and NFKC leave alone
TSUCHIYOSHI = "\U00020bb7"  # 𠮷
COMPAT_TAKASHI = "\uf9dc"  # 隆 (compatibility form)
COMPAT_TSUKA = "\ufa10"  # 塚 (compatibility form)


@pytest.mark.parametrize(
    "a, b",
    [
        ("髙橋", "高橋"),
        ("山" + TATSUSAKI, "山崎"),
        ("山嵜", "山崎"),
        ("渡邊", "渡辺"),
        ("渡邉", "渡辺"),
        ("渡邊", "渡邉"),
        ("齋藤", "斎藤"),
        ("齊藤", "斉藤"),  # 常用漢字表: 斉 (齊)
        ("濱田", "浜田"),
        ("濵田", "浜田"),
        ("澤田", "沢田"),
        ("櫻井", "桜井"),
        ("廣瀬", "広瀬"),
        ("廣瀨", "広瀬"),
        ("國分", "国分"),
        ("眞鍋", "真鍋"),
        ("槇原", "槙原"),
        ("德永", "徳永"),
        ("惠子", "恵子"),
        ("龍之介", "竜之介"),
        ("藪内", "薮内"),
        ("籔内", "薮内"),
        ("小嶋", "小島"),
        ("小嶌", "小島"),
        ("冨田", "富田"),
        ("田淵", "田渕"),
        (COMPAT_TAKASHI, "隆"),
        (TSUCHIYOSHI + "田", "吉田"),
        ("栁田", "柳田"),
        ("大" + COMPAT_TSUKA, "大塚"),
        ("中邨", "中村"),
        ("礒部", "磯部"),
        ("舘野", "館野"),
        ("劒持", "剣持"),
        ("釼持", "剣持"),
        ("靏田", "鶴田"),
        ("曾根", "曽根"),
        ("淺野", "浅野"),
        ("關口", "関口"),
        ("瀧川", "滝川"),
        ("太郞", "太郎"),
        ("神戶", "神戸"),
        ("彥一", "彦一"),
        ("凜", "凛"),
        ("遙", "遥"),
        ("檜山", "桧山"),
    ],
)
def test_variant_spellings_of_one_name_share_a_key(a, b):
    assert name_key(a) == name_key(b)


@pytest.mark.parametrize(
    "a, b",
    [
        ("高橋", "高端"),
        ("高橋", "髙端"),
        ("山崎", "山埼"),  # 埼 is its own character, not a variant of 崎
        ("宮崎", "宮碕"),
        ("渡辺", "渡部"),
        ("斎藤", "佐藤"),
        ("斉藤", "斎藤"),  # 斉 and 斎 are two characters (issue 13)
        ("斉藤", "齋藤"),
        ("齊藤", "齋藤"),
        ("伊藤", "伊東"),
        ("吉田", "桔田"),
        ("浜田", "頻田"),
        ("沢田", "途田"),
        ("太郎", "太朗"),
        ("佐藤花子", "佐藤華子"),
    ],
)
def test_different_names_keep_different_keys(a, b):
    assert name_key(a) != name_key(b)


@pytest.mark.parametrize(
    "a, b",
    [
        ("山田 太郎", "山田太郎"),
        ("山田\u3000太郎", "山田太郎"),
        ("  山田　 太郎 ", "山田太郎"),
        ("髙橋\u3000一郎", "高橋一郎"),
    ],
)
def test_spaces_of_any_width_are_ignored(a, b):
    assert name_key(a) == name_key(b)


def test_variation_selectors_are_ignored():
    assert name_key("葛\U000e0100城") == name_key("葛城")
    assert name_key("辻\U000e0101") == name_key("辻")


def test_repeat_mark_is_spelt_out():
    assert name_key("佐々木") == name_key("佐佐木")
    assert name_key("々") == "々"


def test_foreign_names_in_latin_or_kana_fold_width_and_case():
    assert name_key("Ｓｍｉｔｈ　John") == name_key("SMITH JOHN") == "SMITHJOHN"
    assert name_key("ｽﾐｽ･ｼﾞｮﾝ") == name_key("スミス・ジョン") == "スミスジョン"


def test_ka_ke_in_place_like_surnames():
    assert name_key("一ヶ谷") == name_key("一ケ谷")


def test_name_key_of_blank_is_empty():
    assert name_key("") == ""
    assert name_key("　") == ""


def test_name_key_is_idempotent():
    for name in ["髙橋 一郎", "山" + TATSUSAKI, "渡邉", "齋藤", "佐々木", TSUCHIYOSHI + "田"]:
        assert name_key(name_key(name)) == name_key(name)


@pytest.mark.parametrize(
    "text, key",
    [(None, ""), ("", ""), ("  ", ""), ("髙", "高"), ("渡邊 ", "渡辺"), ("山" + TATSUSAKI, "山崎")],
)
def test_prefix_key_is_tolerant_of_partial_input(text, key):
    assert name_prefix_key(text) == key


def test_prefix_key_is_a_prefix_of_the_full_key():
    full = name_key("渡邊 惠子")
    for typed in ["渡", "渡辺", "渡邉　恵"]:
        assert full.startswith(name_prefix_key(typed))


# --- the table itself -----------------------------------------------------------

def test_table_has_no_chains():
    for variant, rep in VARIANTS.items():
        assert rep not in VARIANTS, (variant, rep)
        assert variant != rep


def test_table_holds_single_characters():
    for variant, rep in VARIANTS.items():
        assert len(variant) == 1 and len(rep) == 1


def test_table_lists_nothing_nfc_already_folds():
    for variant, rep in VARIANTS.items():
        assert unicodedata.normalize("NFC", variant) == variant
        assert unicodedata.normalize("NFC", rep) == rep


def test_table_size_is_reviewable():
    assert 100 <= len(VARIANTS) <= 400


def test_tatsusaki_survives_nfkc_so_the_table_handles_it():
    assert unicodedata.normalize("NFKC", TATSUSAKI) == TATSUSAKI
    assert VARIANTS[TATSUSAKI] == "崎"
