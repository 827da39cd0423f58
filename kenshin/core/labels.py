"""The Japanese words for the codes every screen, print and document shows: one vocabulary.

Sex (the registry's and the forms' code 1/2), the state of a screening record, the kinds of
change to it, and the registry items. Domain modules, templates (blueprints/filters.py) and
documents read them here; a code without a label is shown as it is.
"""
from types import MappingProxyType

SEXES = MappingProxyType({"1": "男", "2": "女"})

SCREENING_STATUS = MappingProxyType({"pending": "未確定", "confirmed": "確定", "void": "取消"})

SCREENING_CHANGE_KINDS = MappingProxyType(
    {"correct": "訂正", "void": "取消", "verify": "確認入力", "reassign": "対象者の付替"})

REGISTRY_ITEMS = MappingProxyType({
    "atena_no": "宛名番号", "name": "氏名", "name_kana": "氏名の振り仮名", "sex": "性別",
    "birth_date": "生年月日", "postal_code": "郵便番号", "address": "住所",
    "resident_since": "住民となった日", "removed_on": "消除日", "removal_reason": "消除事由",
    "use_suspended": "利用停止", "togo_atena_no": "団体内統合宛名番号",
})


def sex_label(value) -> str:
    """男 or 女 for the code 1 or 2 (int or text); '' for none; anything else as it is."""
    if value in (None, ""):
        return ""
    return SEXES.get(str(value), str(value))
