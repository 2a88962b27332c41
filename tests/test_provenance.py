"""Every file under tests/data says where it comes from (tests/data/PROVENANCE.json): the committed
script that regenerates it from a named original commit, or where an input given to the project was
copied from; and no data file or README names a path of one machine."""

import fnmatch
import json
import re

from conftest import DATA, ROOT

MANIFEST = json.loads((DATA / "PROVENANCE.json").read_text())
FILES = sorted(p.relative_to(DATA).as_posix() for p in DATA.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
# A checkout or home directory of one machine; the placeholders CHECKOUT / <checkout> are fine.
MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|home|root|tmp|Users|mnt)/[\w.-]+")


def _entries_of(path):
    return [e for e in MANIFEST["entries"] if any(fnmatch.fnmatchcase(path, pattern) for pattern in e["files"])]


def test_every_data_file_has_a_provenance_entry():
    missing = [path for path in FILES if not _entries_of(path)]
    assert not missing, f"files under tests/data with no entry in PROVENANCE.json: {missing}"


def test_every_entry_names_a_script_and_a_commit_or_why_it_has_none():
    for entry in MANIFEST["entries"]:
        assert any(fnmatch.filter(FILES, pattern) for pattern in entry["files"]), f"entry matches no file: {entry}"
        made_by = entry["made_by"]
        if made_by in ("copied", "hand"):
            assert entry.get("why"), entry
            continue
        assert (ROOT / made_by).is_file(), f"{made_by} is not in the repository"
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", entry["origin"]), entry


def test_no_machine_paths_in_the_data_descriptions():
    for path in FILES:
        if path.endswith((".md", ".json")):
            text = (DATA / path).read_text(errors="replace")
            found = MACHINE_PATH.findall(text)
            assert not found, f"tests/data/{path} names machine paths: {sorted(set(found))[:5]}"
