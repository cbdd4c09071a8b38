"""pytest imports test files by their base name (rootdir-relative packages are not used
here), so two test files with the same name in different folders stop the whole run at
collection ("import file mismatch") — in a fresh clone, never on a machine where one
of them was collected alone first."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_file_has_a_name_of_its_own():
    names = Counter(path.name for path in TESTS.rglob("test_*.py"))
    assert [name for name, count in names.items() if count > 1] == []
