"""The benchmarks write their tables into the README between markers, and only there."""

import pytest

from bench.common import README, write_to_readme

PAGE = (
    "# Title\n\ntext before\n\n"
    "<!-- bench.x -->\nold table\n<!-- /bench.x -->\n\nafter\n"
)


def test_a_run_replaces_what_the_last_one_wrote_and_nothing_else(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(PAGE, encoding="utf-8")
    write_to_readme("bench.x", "| a |\n|---|\n| 1 |\n", readme)
    write_to_readme("bench.x", "| a |\n|---|\n| 2 |", readme)
    assert readme.read_text(encoding="utf-8") == PAGE.replace(
        "old table", "| a |\n|---|\n| 2 |"
    )


def test_a_readme_without_the_block_is_said_before_anything_is_written(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n<!-- bench.y -->\nonly an opening\n", encoding="utf-8")
    for name in ("bench.x", "bench.y"):
        with pytest.raises(SystemExit, match=f"no <!-- {name} -->"):
            write_to_readme(name, "table", readme, check_only=True)
    assert readme.read_text(encoding="utf-8").startswith("# Title\n<!-- bench.y")


def test_check_only_writes_nothing(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(PAGE, encoding="utf-8")
    write_to_readme("bench.x", "new", readme, check_only=True)
    assert readme.read_text(encoding="utf-8") == PAGE


@pytest.mark.parametrize("processes", [1, 2])
def test_the_readme_has_the_load_benchmark_blocks(processes):
    write_to_readme(
        f"bench.load rasa-processes={processes}", "", README, check_only=True
    )
