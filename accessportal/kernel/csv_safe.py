"""Text a spreadsheet will not run as a formula (OWASP "CSV injection"): the one rule every
CSV writer calls (the requests and audit exports, `requests_app.selectors.exports`; the
access-review campaign reports should too).

A spreadsheet evaluates a cell that starts with `= + - @` (or their full-width forms
`＝ ＋ － ＠`), and OWASP adds a leading tab or carriage return. Checking only the first
character is not enough: Excel in a locale whose list separator is `;` (de, fr, nl, ...)
splits a double-clicked .csv on `;`, whatever the quoting, so `ticket 12;=cmd|...` becomes
a second cell starting with `=`; a comma, tab or line break inside a cell can split it in
other readers. So every segment that starts after one of `; , TAB CR LF`, and the text
itself, whose first character other than spaces and line breaks is a formula start gets a
`'` in front (after the separator): spreadsheets show it as text.
"""

from __future__ import annotations

import re

FORMULA_STARTS = "=+-@\uff1d\uff0b\uff0d\uff20"  # = + - @ and ＝ ＋ － ＠
CELL_SEPARATORS = ";,\t\r\n"

_LEADING = ("\t", "\r")
_DANGER = re.compile(
    r"(^|[" + re.escape(CELL_SEPARATORS) + r"])(?=[ \t\r\n]*[" + re.escape(FORMULA_STARTS) + "])"
)


def csv_defuse(text: str) -> str:
    """`text` with a `'` before every part a spreadsheet could read as a formula."""
    if text.startswith(_LEADING):
        text = "'" + text
    return _DANGER.sub(lambda m: m.group(1) + "'", text)
