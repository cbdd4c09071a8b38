"""The README's performance table is `labkit bench report` of a committed `make bench` run.

`benchmarks/<UTC time>/` holds the saved run (results and conditions) the README
quotes; regenerating the table from it must give the README's text exactly, so
the table cannot drift from the run that made it.
"""

from pathlib import Path

from labkit import bench

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_carries_the_report_of_the_newest_committed_run():
    runs = sorted(path.parent for path in (ROOT / "benchmarks").glob("*/results.json"))
    assert runs, "no saved run under benchmarks/"
    assert (runs[-1] / "conditions.json").exists()
    assert bench.report(runs[-1]) in (ROOT / "README.md").read_text()
