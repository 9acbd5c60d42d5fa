"""CSV cells a spreadsheet would execute, neutralised (OWASP CSV injection), for every CSV we write.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
is read by Excel, LibreOffice and Google Sheets as a formula, and a formula can
fetch URLs or run commands on the machine of whoever opens the file. Our CSVs
go to every partner and to the public, and their text comes from partners'
own systems, so each such text cell gets a leading apostrophe: spreadsheets
show it as text, and a reader can strip the one character. Numbers are written
as numbers and need no guard. The full-width forms are included because some
spreadsheets fold them to the ASCII ones.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(value: Any) -> Any:
    """Return ``value`` with a leading apostrophe if it is text a spreadsheet would run; else unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def dict_writer(handle: TextIO, fieldnames: list[str], **kwargs: Any) -> Any:
    """A csv.DictWriter whose rows are neutralised as they are written."""
    return _SafeDictWriter(handle, fieldnames=fieldnames, **kwargs)


class _SafeDictWriter(csv.DictWriter):
    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow({k: neutralise(v) for k, v in rowdict.items()})

    def writerows(self, rowdicts: Iterable[Mapping[str, Any]]) -> None:
        for row in rowdicts:
            self.writerow(row)
