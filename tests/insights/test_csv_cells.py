"""Every text cell of every export opens in a spreadsheet as text: one that starts like a formula
gets OWASP's single-quote prefix; numbers, dates and other text are written as they are."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from insights.export import FORMULA_STARTS, neutralised, to_csv

TEXT = st.text(alphabet=st.sampled_from(["=", "+", "-", "@", "\t", "\r", "a", " ", "1", '"', ",", "\n", "'", "é"]), max_size=8)
CELL = st.one_of(
    st.none(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
    st.datetimes(timezones=st.just(UTC)),
)


def expected(cell: object) -> str:
    if cell is None:
        return ""
    if isinstance(cell, str):
        return ("'" + cell if cell[:1] in FORMULA_STARTS else cell).replace("\r\n", "\n").replace("\r", "\n")
    if isinstance(cell, datetime):
        return cell.isoformat()
    return str(cell)


@settings(max_examples=300)
@given(
    st.integers(1, 4).flatmap(
        lambda n: st.tuples(st.lists(TEXT, min_size=n, max_size=n), st.lists(st.lists(CELL, min_size=n, max_size=n), max_size=6))
    )
)
def test_every_text_cell_is_neutralised_and_nothing_else_changes(table: tuple[list[str], list[list[object]]]) -> None:
    header, rows = table
    read = list(csv.reader(io.StringIO(to_csv((header, rows)), newline="")))
    assert read[0] == [expected(h) for h in header]
    assert read[1:] == [[expected(c) for c in row] for row in rows]


def test_the_owasp_prefix() -> None:
    assert neutralised('=HYPERLINK("http://x.test","ver")') == '\'=HYPERLINK("http://x.test","ver")'
    assert [neutralised(t) for t in ("+1", "-1", "@SUM(A1)", "\tx", "\rx")] == ["'+1", "'-1", "'@SUM(A1)", "'\tx", "'\nx"]
    assert neutralised("ótimo atendimento") == "ótimo atendimento"
    assert neutralised("linha 1\r\nlinha 2\rlinha 3") == "linha 1\nlinha 2\nlinha 3"
