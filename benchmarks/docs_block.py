"""Write a benchmark's figures into a block of a Markdown page (``--write-docs`` of the benchmarks)."""

from __future__ import annotations

from pathlib import Path


def write_block(body: str, path: Path, markers: tuple[str, str], intro: str) -> None:
    """Replace the block between ``markers`` in ``path`` with ``body`` (append ``intro`` + block if absent);
    written to a temporary name, then renamed."""
    start, end = markers
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{start}\n{body}\n{end}"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n" + intro + block + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
