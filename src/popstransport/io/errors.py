"""The error raised for unusable input files and values.

Every message names the input (file or object), the field or variable, what was wrong and how to fix it, so that a
user can act on it without reading the code.
"""

from __future__ import annotations


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


__all__ = ["InputError"]
