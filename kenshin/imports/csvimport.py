"""The shared core of every CSV import (FORMATS.md "General rules for every import").

An importer declares its columns, walks `Reader.records()`, checks each cell with the helpers
here (which never raise: a bad cell becomes a `Problem`), and hands the result to the CLI or
a screen, which print `line N, column NAME: reason` lines or a summary.

Line numbers (our reading of FORMATS.md, written down in docs/IMPORTS.md): N is the number of
the *record*, the header being record 1. Record N starts on physical line N until a quoted
field spans lines; after such a record the two part, and N stays the record's number. A blank
line is a record too (one that carries nothing and is skipped), so blank lines never shift N.

Nothing here imports Flask. Writes go through `database.bulk_insert` / `bulk_update`, which use the
fastest plain path of each database (sqlite3 `executemany`, PostgreSQL `COPY`).
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Iterator

from models import db

from kenshin.core import dates, identifiers
from kenshin.core.textinput import ascii_text
from kenshin.core.kana import KanaError, normalize_kana

# --- encodings, opening ------------------------------------------------------------------------

#: what `--encoding` accepts, and the codec each name means
ENCODINGS = {"utf-8": "utf-8", "utf8": "utf-8", "cp932": "cp932"}
DEFAULT_ENCODING = "utf-8"
BOM = b"\xef\xbb\xbf"

csv.field_size_limit(1_000_000)


class CannotOpen(Exception):
    """The file cannot be read at all (missing, a directory, no permission): exit 2."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class BadOption(CannotOpen):
    """An option the command does not accept (e.g. an unknown encoding): exit 2."""


@dataclass(frozen=True)
class Source:
    """The bytes of one file as received, with its name (no directories) and SHA-256.
    `detected` says the encoding was found from the bytes (the screens' 自動判定), not chosen."""

    file_name: str
    data: bytes
    encoding: str = DEFAULT_ENCODING
    detected: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @classmethod
    def from_path(cls, path: str, encoding: str = DEFAULT_ENCODING) -> "Source":
        """Read a file from disk; CannotOpen names why it could not be read."""
        codec = codec_for(encoding)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            raise CannotOpen(f"ファイルがありません: {path}") from None
        except IsADirectoryError:
            raise CannotOpen(f"ファイルではなくフォルダです: {path}") from None
        except PermissionError:
            raise CannotOpen(f"ファイルを読む権限がありません: {path}") from None
        except OSError as exc:
            raise CannotOpen(f"ファイルを開けません: {path} ({exc.strerror or exc})") from None
        return cls(os.path.basename(path), data, codec)

    @classmethod
    def from_bytes(cls, file_name: str, data: bytes, encoding: str = DEFAULT_ENCODING) -> "Source":
        """An uploaded file; `encoding` AUTO finds it from the bytes (detect_encoding)."""
        name = os.path.basename((file_name or "").replace("\\", "/")) or "upload.csv"
        if encoding == AUTO:
            return cls(name[:255], data, detect_encoding(data), detected=True)
        return cls(name[:255], data, codec_for(encoding))


def _decodes(data: bytes, codec: str, chunk: int = 1 << 20) -> bool:
    """Whether the bytes are valid in the codec, checked a megabyte at a time (never the whole
    file as text: an upload may be large, and the reader decodes it once more afterwards)."""
    decoder = codecs.getincrementaldecoder(codec)()
    view = memoryview(data)
    try:
        for start in range(0, len(data), chunk):
            decoder.decode(view[start:start + chunk])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


AUTO = "auto"
#: the encodings as staff know them
ENCODING_NAMES = {"cp932": "Shift_JIS", "utf-8": "UTF-8"}


def detect_encoding(data: bytes) -> str:
    """The codec of a file from its bytes: a UTF-8 BOM or bytes that are valid UTF-8 say UTF-8
    (a file of ASCII only reads the same either way); bytes that are valid Shift_JIS (cp932) say
    cp932; otherwise the one under which fewer lines fail, so the problems name the right lines."""
    if data.startswith(BOM) or _decodes(data, "utf-8"):
        return "utf-8"
    if _decodes(data, "cp932"):
        return "cp932"
    failing = {}
    for codec in ("cp932", "utf-8"):
        failing[codec] = 0
        for match in _BYTE_LINE.finditer(data):
            try:
                match.group().decode(codec)
            except UnicodeDecodeError:
                failing[codec] += 1
    return "cp932" if failing["cp932"] < failing["utf-8"] else "utf-8"


def codec_for(encoding: str | None) -> str:
    """The codec for an `--encoding` value; BadOption for anything else."""
    codec = ENCODINGS.get((encoding or DEFAULT_ENCODING).strip().lower())
    if codec is None:
        raise BadOption(f"文字コード {encoding!r} は使えません（utf-8 または cp932）")
    return codec


# --- problems ----------------------------------------------------------------------------------

WHOLE_ROW = "-"
FILE_LINE = 0  # a problem of the file as a whole that names no line (shown on the screens only)


@dataclass(frozen=True, order=True)
class Problem:
    """One problem of one record, with two renderings: the command line's FORMATS.md form
    `line N, column NAME: reason` (str), and the screens' 「N行目 生年月日: reason」 (screen).
    A hint that only one of them can act on (an option, a choice on the screen) is kept apart."""

    line: int
    order: int  # position of the column in the header (-1 for the whole row), for sorting
    column: str
    reason: str
    cli_hint: str = ""
    screen_hint: str = ""

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}{self.cli_hint}"

    def screen(self, labels: dict | None = None) -> str:
        """「3行目 生年月日: 日付として読めません」: the column by its Japanese name."""
        labels = labels or {}
        reason = self.reason + self.screen_hint
        if self.line == FILE_LINE:
            return reason
        if self.line == 1:
            if self.column == WHOLE_ROW:
                return f"見出し行: {reason}"
            label = labels.get(self.column)
            shown = f"{label}（{self.column}）" if label else f"「{self.column}」"
            return f"見出し行 列{shown}: {reason}"
        if self.column == WHOLE_ROW:
            return f"{self.line}行目: {reason}"
        return f"{self.line}行目 {labels.get(self.column) or self.column}: {reason}"


class Problems:
    """The problems found in a file, printable in line order.

    With a `limit` (the upload screens: a hostile file can have a problem in every cell) only the
    `limit` first problems by line are kept and the rest are only counted, so memory stays
    bounded; without one (the command line, FORMATS.md: "printing every problem") all are kept."""

    def __init__(self, limit: int | None = None):
        self._items: list[Problem] = []
        self._order: dict[str, int] = {}
        self.limit = limit
        self.total = 0

    def set_columns(self, header: list[str]) -> None:
        for position, name in enumerate(header):
            self._order.setdefault(name, position)

    def add(self, line: int, column: str, reason: str, cli_hint: str = "", screen_hint: str = "") -> None:
        self.total += 1
        order = -1 if column == WHOLE_ROW else self._order.get(column, 10_000)
        self._items.append(Problem(line, order, column, reason, cli_hint, screen_hint))
        if self.limit is not None and len(self._items) >= 2 * self.limit:
            self._items = sorted(self._items)[:self.limit]

    @property
    def full(self) -> bool:
        """True once more problems were found than are kept: the rest are only counted."""
        return self.limit is not None and self.total >= self.limit

    def __bool__(self) -> bool:
        return self.total > 0

    def __len__(self) -> int:
        return self.total

    def sorted(self) -> list[Problem]:
        kept = sorted(self._items)
        return kept if self.limit is None else kept[:self.limit]

    def lines(self) -> list[str]:
        return [str(p) for p in self.sorted()]


# --- columns and the header --------------------------------------------------------------------

@dataclass(frozen=True)
class Columns:
    """The columns a file kind may have: required ones must be in the header, optional may not."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def known(self) -> frozenset[str]:
        return frozenset(self.required) | frozenset(self.optional)


# A column that names the individual number refuses the whole file. Compared after NFKC,
# case folding and removing spaces, underscores, hyphens and dots, so ＫＯＪＩＮ_ＮＯ,
# "My Number", マイ・ナンバー and 個人番号（マイナンバー） all count.
_KOJIN_WORDS = ("個人番号", "kojinno", "kojinbango", "kojinbangou", "mynumber", "mynum",
                "マイナンバー", "まいなんばー", "ﾏｲﾅﾝﾊﾞｰ")
_NAME_FOLD = re.compile(r"[\s_\-‐－・.。･]+")
KOJIN_REFUSAL = ("個人番号の列があるため、ファイル全体を受け付けません。このファイルは個人番号を"
                 "持ちません（市の評価書で記録するのは宛名番号だけです）。列を削除してから取り込んでください")


def names_individual_number(column: str) -> bool:
    """True when a column name says 個人番号 / kojin_no / my_number / マイナンバー."""
    folded = _NAME_FOLD.sub("", unicodedata.normalize("NFKC", column or "").casefold())
    return any(unicodedata.normalize("NFKC", word).casefold() in folded for word in _KOJIN_WORDS)


# --- records -----------------------------------------------------------------------------------

class Record:
    """One well-formed data record: its number and its fields in header order (not stripped)."""

    __slots__ = ("line", "fields", "header")

    def __init__(self, line: int, fields: list[str], header: list[str]):
        self.line = line
        self.fields = fields
        self.header = header

    @property
    def cells(self) -> dict[str, str]:
        """The cells by column name, stripped."""
        return {name: value.strip() for name, value in zip(self.header, self.fields)}


@dataclass
class Reader:
    """Reads one file: decodes it, checks the header, yields well-formed records.

    Problems with the header, with the shape of a record (field count, quoting, undecodable
    bytes) land in `problems`; `refused` is set when the file must not be read any further
    (a 個人番号 column, or a header that cannot be read).
    """

    source: Source
    columns: Columns
    problems: Problems = field(default_factory=Problems)
    problem_limit: int | None = None
    header: list[str] = field(default_factory=list)
    present: frozenset[str] = frozenset()
    index: dict[str, int] = field(default_factory=dict)
    refused: bool = False
    records_seen: int = 0

    def __post_init__(self):
        if self.problem_limit is not None:
            self.problems.limit = self.problem_limit
        self._bad: set[int] = set()
        self._lines = _physical_lines(self.source.data, self.source.encoding, self._bad)
        self._reader = csv.reader(self._lines, strict=True)
        self._read_header()

    # header

    def _read_header(self) -> None:
        fields, _start, _end = self._next_raw()
        if isinstance(fields, str):  # a csv error or undecodable bytes in the header
            self.problems.add(1, WHOLE_ROW, f"見出し行を読めません: {fields}", *_hints(fields))
            self.refused = True
            return
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            self.problems.add(1, WHOLE_ROW, "見出し行がありません（1行目が空です）" if fields is not None
                              else "見出し行がありません（空のファイルです）")
            self.refused = True
            return
        header = [name.strip().lstrip("\ufeff").strip() for name in fields]
        self.header = header
        self.problems.set_columns(header)
        kojin = [name for name in header if names_individual_number(name)]
        if kojin:
            for name in kojin:
                self.problems.add(1, name or WHOLE_ROW, KOJIN_REFUSAL)
            self.refused = True
            return
        seen: set[str] = set()
        for name in header:
            if not name:
                self.problems.add(1, WHOLE_ROW, "名前のない列があります")
            elif name in seen:
                self.problems.add(1, name, "同じ名前の列が2つ以上あります")
            elif name not in self.columns.known:
                self.problems.add(1, name, "不明な列です（列名の誤りの可能性があります。"
                                           f"使える列: {', '.join(self.columns.required + self.columns.optional)}）")
            seen.add(name)
        for name in self.columns.required:
            if name not in seen:
                self.problems.add(1, name, "必須の列が見出しにありません")
        self.present = frozenset(name for name in header if name in self.columns.known)
        # the first position of each known column (a repeated column is already a problem)
        self.index = {}
        for position, name in enumerate(header):
            if name in self.columns.known:
                self.index.setdefault(name, position)

    # records

    def _next_raw(self):
        """(fields, first physical line, last physical line); fields is a reason string for a
        record that cannot be read, None at the end of the file."""
        start = self._reader.line_num + 1
        try:
            fields = next(self._reader)
        except StopIteration:
            return None, start, start
        except csv.Error as exc:
            fields = _csv_reason(exc)
        end = self._reader.line_num
        if self._bad and any(line in self._bad for line in range(start, end + 1)):
            fields = _Undecodable(self.source.encoding)
        self.records_seen += 1
        return fields, start, end

    def records(self) -> Iterator[Record]:
        """Every data record with the right number of fields; the others become problems."""
        if self.refused:
            return
        header, width = self.header, len(self.header)
        add = self.problems.add
        number = 1
        while True:
            fields, _start, _end = self._next_raw()
            if fields is None:
                return
            number += 1
            if isinstance(fields, str):
                add(number, WHOLE_ROW, fields, *_hints(fields))
                continue
            if not fields:
                continue  # a blank line: nothing to import, but it keeps its number
            if len(fields) != width:
                if len(fields) == 1 and not fields[0].strip():
                    continue  # a line of spaces only
                add(number, WHOLE_ROW, f"項目の数が見出しと合いません（見出し{width}、この行{len(fields)}）")
                continue
            yield Record(number, fields, header)


class _Undecodable(str):
    """The reason for a record with bytes the encoding cannot read, with what each reader can do."""

    def __new__(cls, codec: str):
        enc = "cp932" if codec == "cp932" else "UTF-8"
        self = super().__new__(cls, f"{enc}として読めないバイトがあります")
        self.cli_hint = "" if enc == "cp932" else "（Shift_JISのファイルなら --encoding cp932 を指定してください）"
        self.screen_hint = ("（文字コードの選び方が違う可能性があります。別の文字コードを選んで、もう一度確認してください）"
                            if enc == "cp932" else
                            "（Shift_JISのファイルなら、文字コードで「Shift_JIS」を選んで、もう一度確認してください）")
        return self


def _hints(reason: str) -> tuple[str, str]:
    return getattr(reason, "cli_hint", ""), getattr(reason, "screen_hint", "")


_BYTE_LINE = re.compile(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _physical_lines(data: bytes, codec: str, bad: set[int]) -> Iterator[str]:
    """The file's lines (\\n, \\r\\n or \\r endings kept) decoded, one at a time (never a list
    of every line: a large file must not be held twice more). The numbers of lines whose bytes
    could not be decoded go into `bad` as they are read (they come with U+FFFD in their place)."""
    start = len(BOM) if data.startswith(BOM) and codec == "utf-8" else 0
    try:
        text = str(memoryview(data)[start:], codec)
    except UnicodeDecodeError:
        text = None
    if text is not None:
        yield from io.StringIO(text, newline="")
        return
    for number, match in enumerate(_BYTE_LINE.finditer(data, start), start=1):
        raw = match.group()
        try:
            yield raw.decode(codec)
        except UnicodeDecodeError:
            bad.add(number)
            yield raw.decode(codec, "replace")


def _csv_reason(exc: csv.Error) -> str:
    text = str(exc)
    if "unexpected end of data" in text:
        return "引用符（\"）が閉じられないままファイルが終わっています"
    if "expected after" in text:
        return "引用符（\"）で囲んだ項目の後に区切りの「,」がありません"
    if "field larger than field limit" in text:
        return "項目が長すぎます（引用符が閉じられていない可能性があります）"
    if "new-line character" in text:
        return "引用符で囲まれていない項目に改行があります"
    if "NUL" in text:
        return "NUL文字が含まれています"
    return "CSVとして読めません"


# --- cell helpers ------------------------------------------------------------------------------

class Absent:
    """The value of an optional column left out of the header: keep what is stored."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT = Absent()


class InvalidCell:
    """The value of a cell that has a problem already: rules between cells skip it."""

    def __repr__(self) -> str:
        return "INVALID"

    def __bool__(self) -> bool:
        return False


INVALID = InvalidCell()
REQUIRED = "必須です"
NOT_DATE_HINT = "（例: 2025-04-01、2025/4/1、20250401、令和7年4月1日、R7.4.1）"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class CellError(ValueError):
    """A cell that does not follow its rule; str() is the reason."""


class Row:
    """Check the cells of one record; every failed check adds a problem for this record.

    `index` maps the known columns present in the header to their position (Reader.index)."""

    __slots__ = ("record", "problems", "index", "ok", "bad")

    def __init__(self, record: Record, problems: Problems, index: dict[str, int]):
        self.record = record
        self.problems = problems
        self.index = index
        self.ok = True
        self.bad: set[str] = set()  # the columns with a problem

    @property
    def line(self) -> int:
        return self.record.line

    def error(self, column: str, reason: str) -> None:
        self.ok = False
        self.bad.add(column)
        self.problems.add(self.record.line, column, reason)

    def raw(self, column: str):
        """The stripped cell, '' when blank, ABSENT when the column is not in the header."""
        i = self.index.get(column)
        if i is None:
            return ABSENT
        return self.record.fields[i].strip()

    def take(self, column: str, convert: Callable[[str], object], *, required: bool = False):
        """convert(cell) for a non-blank cell; None for a blank one; ABSENT for a left-out column.
        A CellError from convert, or a blank required cell, becomes a problem (and None)."""
        i = self.index.get(column)
        if i is None:
            return ABSENT
        value = self.record.fields[i].strip()
        if not value:
            if required:
                self.error(column, REQUIRED)
            return None
        try:
            return convert(value)
        except CellError as exc:
            self.error(column, str(exc))
            return None


def atena_no(value: str) -> str:
    """A 宛名番号 cell (core.identifiers)."""
    text = ascii_text(value)
    if not identifiers.is_atena_no(text):
        raise CellError(identifiers.ATENA_NO_MESSAGE)
    return text


def seiri_no(value: str) -> str:
    """A 整理番号 cell (core.identifiers)."""
    text = ascii_text(value)
    problem = identifiers.seiri_no_problem(text)
    if problem:
        raise CellError(problem)  # a wrong check digit says so
    return text


def digits(min_length: int, max_length: int, what: str) -> Callable[[str], str]:
    """A converter for a number kept as text (leading zeros count): 1–15 digits, say."""
    pattern = re.compile(rf"[0-9]{{{min_length},{max_length}}}")

    def convert(value: str) -> str:
        text = ascii_text(value)
        if not pattern.fullmatch(text):
            span = f"{max_length}桁" if min_length == max_length else f"{min_length}〜{max_length}桁"
            raise CellError(f"{what}は{span}の数字です")
        return text
    return convert


def code(allowed: dict[str, str], what: str) -> Callable[[str], str]:
    """A converter for a code from a fixed list (full-width digits read as ASCII)."""
    listed = "、".join(f"{k}（{v}）" for k, v in allowed.items())

    def convert(value: str) -> str:
        text = ascii_text(value)
        if text not in allowed:
            raise CellError(f"{what}は {listed} のいずれかです")
        return text
    return convert


_LINE_BREAKS = re.compile(r"\s*(?:\r\n|\r|\n)\s*")


def text(max_length: int, what: str, *, join_lines: bool = False) -> Callable[[str], str]:
    """A converter for free text on one line, at most max_length characters. With join_lines, a
    line break inside a quoted cell (an address and its 方書 on two lines) becomes one U+3000."""
    def convert(value: str) -> str:
        value = unicodedata.normalize("NFC", value)
        if join_lines:
            value = _LINE_BREAKS.sub("\u3000", value)
        if _CONTROL.search(value):
            raise CellError(f"{what}に改行や制御文字は使えません")
        if len(value) > max_length:
            raise CellError(f"{what}は{max_length}文字以内です（{len(value)}文字）")
        return value
    return convert


_POSTAL = re.compile(r"([0-9]{3})-?([0-9]{4})")
_DASHES = str.maketrans({c: "-" for c in "‐‑‒–—―−－ーｰ"})


def postal_code(value: str) -> str:
    """NNN-NNNN or 7 digits (full-width read as ASCII), stored as NNN-NNNN."""
    match = _POSTAL.fullmatch(ascii_text(value).translate(_DASHES))
    if not match:
        raise CellError("郵便番号は NNN-NNNN または7桁の数字です")
    return f"{match[1]}-{match[2]}"


# Already in the stored form: full-width katakana (with ー ・ ヽ ヾ), parts joined by one U+3000.
# normalize_kana returns such a value unchanged, so it is taken as it is (most rows are).
_STORED_KANA = re.compile(r"(?=[^ァ-ヺ]*[ァ-ヺ])[ァ-ヺー・ヽヾ]+(?:\u3000[ァ-ヺー・ヽヾ]+)*")


def kana(value: str) -> str:
    """Kana as FORMATS.md says: stored as full-width katakana, ≤ 60 characters."""
    if len(value) <= 60 and _STORED_KANA.fullmatch(value):
        return value
    try:
        return normalize_kana(value)
    except KanaError as exc:
        raise CellError(str(exc)) from None


class DateReader:
    """Reads dates (dates.parse_date) that must not be in the future in Japan time.

    One reader per import: "today" is fixed when the import starts, and the many repeated
    values of a registry extract (birth dates) are parsed once. With iso=True the reader
    returns ISO text (YYYY-MM-DD), the form that is stored and compared."""

    def __init__(self, today: date | None = None, iso: bool = False):
        self.today = today or dates.today_jst()
        self.iso = iso
        self._cache: dict[str, date | str | CellError] = {}

    def __call__(self, value: str):
        hit = self._cache.get(value)
        if hit is None:
            try:
                parsed = dates.parse_date(value)
            except dates.DateError as exc:
                reason = f"{exc}{NOT_DATE_HINT}" if str(exc) == dates.UNREADABLE else str(exc)
                hit = CellError(reason)
            else:
                if parsed > self.today:
                    hit = CellError(f"未来の日付です（今日は{dates.format_wareki(self.today)}）")
                else:
                    hit = parsed.isoformat() if self.iso else parsed
            if len(self._cache) < 200_000:
                self._cache[value] = hit
        if isinstance(hit, CellError):
            raise CellError(str(hit))
        return hit


def iso(value) -> str | None:
    """A date as the text both databases store and compare (None stays None)."""
    return value.isoformat() if isinstance(value, date) else value


# --- results -----------------------------------------------------------------------------------

ACCEPTED = "accepted"
REJECTED = "rejected"


@dataclass
class Result:
    """What an import (or its preview) found: the counts, or every problem."""

    kind: str
    file_name: str
    sha256: str
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    written: bool = False
    batch_id: int | None = None
    problem_total: int = 0  # every problem found; `problems` may hold only the first ones
    labels: dict = field(default_factory=dict)  # column → Japanese name, for the screens
    rows: list = field(default_factory=list)  # the first rows' outcomes (kenshin.imports.rows)
    encoding: str = ""
    encoding_detected: bool = False

    def screen_problems(self) -> list[str]:
        """The problems as the screens show them (「3行目 生年月日: …」)."""
        return [p.screen(self.labels) for p in self.problems]

    def set_problems(self, problems: Problems) -> None:
        self.problems = problems.sorted()
        self.problem_total = len(problems)

    @property
    def problem_count(self) -> int:
        return max(self.problem_total, len(self.problems))

    @property
    def accepted(self) -> bool:
        return not self.problems

    @property
    def outcome(self) -> str:
        return ACCEPTED if self.accepted else REJECTED

    def summary(self) -> str:
        """The one-line summary of a valid file: `new=N changed=N ...`."""
        return " ".join(f"{k}={v}" for k, v in self.counts.items())

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]

    @property
    def exit_code(self) -> int:
        return 0 if self.accepted else 1


def audit_details(result: Result, source: Source, extra: dict | None = None) -> dict:
    """What an import attempt's audit event carries: file, checksum, outcome, counts (never values)."""
    details = {"file": result.file_name, "sha256": result.sha256, "encoding": source.encoding,
               "outcome": result.outcome, "counts": result.counts, "bytes": len(source.data)}
    if result.problems:
        details["problems"] = result.problem_count
    if result.batch_id is not None:
        details["batch"] = result.batch_id
    details.update(extra or {})
    return details


UPLOAD_ACTION = "import.upload"


def record_upload(kind: str, source: Source, actor) -> None:
    """The audit event of a file received on screen, written (and committed) before the file is
    read, so that an attempt whose reading never ends (a worker killed for its memory or its
    time) is still in the log with its name, size and checksum."""
    from kenshin import audit

    with db.atomic():
        audit.record(UPLOAD_ACTION, actor, object_type="file", object_id=source.sha256,
                     details={"kind": kind, "file": source.file_name, "sha256": source.sha256,
                              "bytes": len(source.data), "encoding": source.encoding})


def record_unreadable(action: str, file_name: str, reason: str, actor) -> None:
    """The audit event of an attempt whose file could not even be opened (exit 2)."""
    from kenshin import audit

    from kenshin.imports import history

    with db.atomic():
        audit.record(action, actor, object_type="file", object_id="", outcome=REJECTED,
                     details={"file": file_name, "sha256": None, "outcome": REJECTED,
                              "counts": {}, "reason": reason})
        kind = action.split(".", 1)[-1]
        if kind in history.KINDS:
            history.record(kind, None, Source(file_name, b"", ""), actor, reason=reason)
