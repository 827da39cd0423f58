"""Free-text input from forms: one rule for every screen that takes a sentence from a person."""
import unicodedata


def clean_text(value: str | None, key: str, label: str, limit: int, errors: dict, required=True,
               multiline=False) -> str:
    """Normalised text; problems go into `errors[key]` as Japanese sentences."""
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        if required:
            errors.setdefault(key, []).append(f"{label}を入力してください")
        return ""
    if len(text) > limit:
        errors.setdefault(key, []).append(f"{label}は{limit}文字以内で入力してください")
    allowed = "\n\t" if multiline else ""
    if any(unicodedata.category(ch) == "Cc" and ch not in allowed for ch in text):
        errors.setdefault(key, []).append(f"{label}に使えない文字があります")
    return text


def ascii_text(value) -> str:
    """NFKC (full-width digits and letters as ASCII, U+3000 as a space) and stripped; None is ''.

    The one way every screen and file reads a code, a number or a short typed value."""
    if value is None:
        return ""
    return unicodedata.normalize("NFKC", value if isinstance(value, str) else str(value)).strip()
