"""The error raised for unusable input files and values.

Every message names the input (file or object), the field or variable, what was wrong and how to fix it, so that a
user can act on it without reading the code.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """An input (meteorology, emissions, regions) that cannot be used as given.

    Parameters
    ----------
    source
        The file path or a short description of the in-memory object (``"xarray.Dataset"``).
    field
        The variable, column, attribute or quantity concerned (``"eastward wind"``, ``"column 'unit'"``).
    problem
        What is wrong, with the values that were found and what was expected.
    fix
        What the user can do about it.

    Attributes
    ----------
    source, field, problem, fix
        The parts of the message, for programs that want to show them separately.
    """

    def __init__(self, source: object, field: str, problem: str, fix: str = ""):
        self.source = str(source)
        self.field = field
        self.problem = problem
        self.fix = fix
        message = f"{self.source}: {field}: {problem}"
        if fix:
            message += f". Fix: {fix}"
        super().__init__(message)



class MissingYearError(InputError):
    """An inventory that has no emissions for the year asked for (and cannot interpolate to it).

    Attributes
    ----------
    year
        The year asked for.
    available
        The years the inventory has, in order.
    """

    def __init__(self, source: object, field: str, problem: str, fix: str, year: float, available: list[float]):
        super().__init__(source, field, problem, fix)
        self.year = year
        self.available = list(available)

def read_utf8_text(path: str | Path, kind: str) -> str:
    """The text of the file ``path`` decoded as UTF-8, without a byte-order mark (which editors and spreadsheets
    write). A file in another encoding raises :class:`InputError` naming the file, the line and the byte, with the
    fix: the one wording of this error for every text input (configurations, property files, inventories,
    observations). ``kind`` says what the file is, for the fix (``"CSV"``, ``"TOML"``)."""
    raw = Path(path).read_bytes().removeprefix(b"\xef\xbb\xbf")  # (decoded after it: the error's offsets are in this)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        before = raw[raw.rfind(b"\n", 0, exc.start) + 1:exc.start]
        column = len(before.decode("utf-8", errors="replace")) + 1  # (in characters, as an editor counts them)
        spreadsheet = " ('CSV UTF-8' in a spreadsheet)" if kind == "CSV" else ""
        raise InputError(path, f"line {line}", f"byte {raw[exc.start]:#04x} at column {column} is not UTF-8 (the file is "
                         "in another encoding, such as Latin-1 or Windows-1252, which spreadsheets often write; "
                         f"{kind} input is read as UTF-8)", f"save it as UTF-8{spreadsheet}, or convert it, e.g. iconv "
                         f"-f latin1 -t utf-8 {Path(path).name} > converted{Path(path).suffix}") from None


__all__ = ["InputError", "read_utf8_text"]
