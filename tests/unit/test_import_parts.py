"""A CSV file too large for one api request goes in parts cut where a row ends, and the api's
line numbers map back to the file's (common.entrypoints.cli.remote_import)."""

from __future__ import annotations

from common.entrypoints.cli.remote_import import import_parts, merged_imports

HEADER = "account,at,text\n"


def test_a_file_that_fits_is_sent_whole() -> None:
    text = HEADER + "fb,2030-01-01T10:00Z,hi\n"
    (part,) = import_parts(text, 10_000)
    assert (part.text, part.first_line) == (text, 2)


def test_a_large_file_is_cut_at_row_ends_even_inside_a_quoted_line_break() -> None:
    rows = [
        "fb,2030-01-01T10:00Z,one\n",
        'fb,2030-01-01T10:01Z,"two\nlines"\n',
        "fb,2030-01-01T10:02Z,three\n",
    ]
    parts = import_parts(HEADER + "".join(rows), 40)
    assert [p.text for p in parts] == [HEADER + rows[0], HEADER + rows[1], HEADER + rows[2]]
    assert [p.first_line for p in parts] == [2, 3, 5]
    # The api numbers each part's rows from 2 (the header is line 1): back to the file's lines.
    assert parts[2].file_line(2) == 5 and parts[1].file_line(3) == 4 and parts[2].file_line(1) == 1


def test_the_answers_of_the_parts_merge_into_one_report_with_file_lines() -> None:
    parts = import_parts(HEADER + "a,1,x\n" + "b,2,y\n", 10)
    answers = [
        {"imported": 1, "created": [{"line": 2, "id": f"p{i}"}], "alreadyScheduled": []}
        | {"updated": [], "warnings": [], "notChanged": []}
        for i in range(2)
    ]
    merged = merged_imports([p.in_file(a) for p, a in zip(parts, answers, strict=True)])
    assert merged["imported"] == 2
    assert merged["created"] == [{"line": 2, "id": "p0"}, {"line": 3, "id": "p1"}]
