"""The shared JSONL line walker: every non-blank line comes back parsed or with a reason, numbered from 1."""

from __future__ import annotations

from specialize.runtime.jsonl import iter_lines


def test_lines_are_numbered_parsed_or_explained_and_a_bom_or_bad_bytes_do_not_stop_the_read(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"id": 1}\n\n  \n{broken\n"just text"\n{"id": "\xff"}\n')
    got = list(iter_lines(path))
    assert [x.lineno for x in got] == [1, 4, 5, 6]  # blank lines 2 and 3 are skipped, numbering is kept
    assert got[0].obj == {"id": 1} and got[0].error is None  # the byte order mark is not part of the row
    assert got[1].obj is None and got[1].error.startswith("not valid JSON") and got[1].raw == "{broken"
    assert got[2].obj == "just text"  # valid JSON that is not an object: the caller decides
    assert got[3].obj == {"id": "\ufffd"}  # a byte that is not UTF-8 is replaced, the row is still read
