"""Helpers shared by the benchmark scripts: timing, memory and Markdown tables."""

from __future__ import annotations

import resource
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB.

    VmHWM belongs to the address space, so it starts afresh at exec; ru_maxrss would
    carry over the peak of the parent that forked this process.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_to_readme(
    name: str, text: str, readme: Path = README, *, check_only: bool = False
) -> None:
    """Puts ``text`` between the README's ``<!-- name -->`` and ``<!-- /name -->``
    lines, in place of what an earlier run put there; the rest stays as it is. With
    ``check_only``, only says (SystemExit) if the README has no such block."""
    start, end = f"<!-- {name} -->", f"<!-- /{name} -->"
    content = readme.read_text(encoding="utf-8")
    before, found, rest = content.partition(start + "\n")
    _, closed, after = rest.partition(end)
    if not found or not closed:
        raise SystemExit(f"{readme.name} has no {start} ... {end} block to write to")
    if check_only:
        return
    block = start + "\n" + text.rstrip("\n") + "\n" + end
    readme.write_text(before + block + after, encoding="utf-8")
