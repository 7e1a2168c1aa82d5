"""What the offline tests share: where the repository's documents are, and how to read the
fenced blocks of docs/wire-format.md."""

import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[3]
WIRE_FORMAT = REPO / "docs" / "wire-format.md"
FORMATS = REPO / "node" / "protocol" / "tests" / "fixtures" / "formats.txt"


def fenced_blocks(info: str):
    """Each fenced block of docs/wire-format.md with this info string, as a dict of its
    ``name: value`` lines."""
    text = WIRE_FORMAT.read_text(encoding="utf-8")
    for block in re.findall(rf"```{re.escape(info)}\n(.*?)```", text, re.S):
        yield dict(line.split(": ", 1) for line in block.strip().splitlines())
