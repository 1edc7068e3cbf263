"""Line cutting for validate_rows: offsets and blocks give the same lines as splitting the bytes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from specialize.data.rowchunks import line_spans, split_block


def expected_lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [ln[:-1] if ln.endswith(b"\r") else ln for ln in lines]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=60).map(lambda b: b.replace(b"a", b"\n").replace(b"b", b"\r")))
def test_spans_and_blocks_cut_lines_like_split(data):
    starts, ends = line_spans(data)
    want = expected_lines(data)
    assert [data[s:e] for s, e in zip(starts.tolist(), ends.tolist())] == want
    assert split_block(data) == want
