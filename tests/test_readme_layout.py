"""The README's package table lists every package folder (it had drifted to 6 of 14)."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_package_table_lists_every_folder():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Package layout") :]
    table = table[: table.index("\n## ")]
    listed = set(re.findall(r"`(sg2tf/[A-Za-z0-9_]+/)`", table))
    folders = {
        f"sg2tf/{p.name}/"
        for p in (ROOT / "sg2tf").iterdir()
        if p.is_dir() and not p.name.startswith((".", "__")) and any(p.iterdir())
    }
    assert folders - listed == set(), f"README.md's package table lacks {sorted(folders - listed)}"
    assert listed - folders == set(), f"README.md's package table lists missing folders {sorted(listed - folders)}"
