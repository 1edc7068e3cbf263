"""Line cutting for validate_rows: offsets and blocks give the same lines as splitting the bytes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from specialize.data.rowchunks import line_spans, split_block


BOM = b"\xef\xbb\xbf"


def expected_lines(data: bytes, *, file_start: bool = False) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    lines = [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]
    if file_start and lines and lines[0].startswith(BOM):  # a byte-order mark is not part of row 1
        lines[0] = lines[0][len(BOM):]
    return lines


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.just(b""), st.just(BOM)).flatmap(
    lambda head: st.binary(max_size=60).map(lambda b: head + b.replace(b"a", b"\n").replace(b"b", b"\r"))))
def test_spans_and_blocks_cut_lines_like_split(data):
    starts, ends = line_spans(data)  # offsets over a whole file: a leading BOM is skipped
    assert [data[s:e] for s, e in zip(starts.tolist(), ends.tolist())] == expected_lines(data, file_start=True)
    assert split_block(data) == expected_lines(data)  # a block from inside a file is cut as it is
