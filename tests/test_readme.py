"""The command blocks of README.md and of the pages under docs/ run: every block that finishes
in under a minute is run here; the longer ones are listed in LONG, with why, and the README's
example tables are checked against what their saved runs reload to."""

import json
import re
import shlex
from pathlib import Path

import pytest

from pinn_pac.cli import main

ROOT = Path(__file__).resolve().parents[1]
#: The page that writes a family of the user's own (logistic.py), relative to ROOT.
OWN_EQUATION_PAGE = "docs/own-equation.md"
#: The pages whose blocks run, relative to ROOT.
PAGES = ["README.md", *sorted(str(page.relative_to(ROOT)) for page in (ROOT / "docs").glob("*.md"))]
#: Blocks that take over a minute, by their first command, and why.
LONG = {
    "python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt -e . && pinn-pac transfer burgers":
        "a fresh install, then the 4-minute default job",
    "python3 -m venv .venv && . .venv/bin/activate && pip install -c constraints.txt -e '.[test,ray,lint]' && ruff check && python -m pytest":
        "a fresh install, then this test suite",
    "pinn-pac transfer burgers --quiet --out benchmarks/results/defaults/transfer_seed0":
        "the 4-minute default job; its table is checked against its saved run below",
    "import math, equations": "the default transfer from the library, 4 minutes",
    "pinn-pac transfer burgers --targets nu=0.06/pi --thread-invariant --calibrate-iterations 1000 --out family":
        "the family example, 7 minutes; its table is checked against its saved run below",
    "pinn-pac solve benchmarks/problems/wave1d.py:Wave1D --quiet --out /tmp/runs/wave_s0":
        "a user's wave equation at the defaults, 3-11 minutes; benchmarks/problem_set.py runs it",
    "pinn-pac solve benchmarks/problems/poisson2d_holes.py:Poisson2DHoles --out holes":
        "a user's plate with holes at the defaults, 3 minutes; benchmarks/problem_set.py runs it",
    "pinn-pac identify burgers --nu 0.03/pi --data burgers_data.npz --unknowns nu --quiet "
    "--out benchmarks/results/identify/burgers_readme":
        "the identify example, 2.5 minutes; its table is checked against its saved run below",
}


def fenced_blocks(page: str) -> list[tuple[str, str]]:
    return re.findall(r"^```(\w*)\n(.*?)^```", (ROOT / page).read_text(), re.M | re.S)


def file_blocks(page: str) -> dict[str, str]:
    """The files a page shows: Python blocks whose first line is `# NAME.py`."""
    return {match.group(1): text for language, text in fenced_blocks(page)
            if language == "python" and (match := re.match(r"# (\w+\.py)\n", text))}


def command_blocks(page: str) -> list[tuple[str, list[str]]]:
    """(language, commands) of each fenced block of a page in a command language: a console
    block's `$ ` lines, a shell block's lines, a Python block whole (but a file block)."""
    files = file_blocks(page).values()
    blocks = []
    for language, text in fenced_blocks(page):
        if language == "python" and text in files:
            continue
        if language == "console":
            blocks.append((language, [line[2:] for line in text.splitlines() if line.startswith("$ ")]))
        elif language in ("bash", "sh"):
            blocks.append((language, [line for line in text.splitlines() if line.strip() and not line.startswith("#")]))
        elif language == "python":
            blocks.append((language, [text]))
    return blocks


def first_line(commands: list[str]) -> str:
    return commands[0].splitlines()[0]


#: (page, language, commands) of every command block of every page.
BLOCKS = [(page, *block) for page in PAGES for block in command_blocks(page)]
SHORT = [block for block in BLOCKS if first_line(block[2]) not in LONG]


def test_every_long_block_is_on_a_page_and_the_rest_run_here():
    firsts = [first_line(commands) for _, _, commands in BLOCKS]
    assert sorted(set(firsts) & set(LONG)) == sorted(LONG), "LONG names a block no page has any more"
    assert len(SHORT) + len(LONG) == len(firsts) and SHORT


@pytest.mark.parametrize("page, language, commands", SHORT,
                         ids=[f"{page}:{first_line(commands)[:40]}" for page, _, commands in SHORT])
def test_page_block_runs(page, language, commands, tmp_path, monkeypatch):
    """In a scratch folder that sees the repository's benchmarks/ and holds the page's files;
    `pinn-pac` is this tree's, run in-process."""
    (tmp_path / "benchmarks").symlink_to(ROOT / "benchmarks")
    for name, text in file_blocks(page).items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    for command in commands:
        if language == "python":
            exec(compile(command, page, "exec"), {"__name__": "readme"})
        else:
            assert command.startswith("pinn-pac "), f"run here are pinn-pac commands (or list it in LONG): {command}"
            assert main(shlex.split(command)[1:]) == 0, command


def table_rows(text: str) -> list[list[str]]:
    """Coefficients, role, rel L2, max err and trainable of each model line of a results table."""
    return [line.split()[:5] for line in text.splitlines() if re.match(r"\S+=\S+\s+(source|target)\s", line)]


def test_the_worked_example_prints_what_its_saved_run_reloads_to(capsys):
    text = (ROOT / "README.md").read_text()
    example = re.search(r"^```console\n\$ (pinn-pac transfer [^\n]*--out (\S+))\n(.*?)^```", text, re.M | re.S)
    assert example and example.group(1) in LONG
    assert main(["evaluate", str(ROOT / example.group(2))]) == 0
    printed = table_rows(example.group(3))
    assert len(printed) == 3 and printed == table_rows(capsys.readouterr().out)


def test_the_family_example_shows_the_family_md_of_its_saved_run():
    """The README's family example points to benchmarks/README.md, which shows that run's
    family.md and family.png as saved."""
    assert "benchmarks/README.md#a-family-of-16-targets" in (ROOT / "README.md").read_text()
    text = (ROOT / "benchmarks/README.md").read_text()
    section = text[text.index("## A family of 16 targets"):text.index("## Every family from scratch")]
    shown = [line for line in section.split("![")[0].splitlines() if line.startswith("| nu=")]
    saved = [line for line in (ROOT / "benchmarks/results/family/workers2/family.md").read_text().splitlines()
             if line.startswith("| nu=")]
    assert len(shown) == 17 and shown == saved
    assert "(results/family/workers2/family.png)" in section


def test_the_identify_example_prints_what_its_saved_run_holds(capsys):
    text = (ROOT / "README.md").read_text()
    example = re.search(r"^```console\n\$ (pinn-pac identify [^\n]*--out (\S+))\n(.*?)^```", text, re.M | re.S)
    assert example and example.group(1) in LONG
    results = json.loads((ROOT / example.group(2) / "results.json").read_text())
    (row,) = [line.split() for line in example.group(3).splitlines() if line.startswith("nu ")]
    nu, start, error = results["identified"]["nu"], results["start"]["nu"], results["standard_errors"]["nu"]
    assert row == ["nu", f"{start:.6g}", f"{nu:.8g}", f"{error:.2e}"]
    assert f"rel L2 of the solution at the identified coefficients {results['rel_l2']:.2e}" in example.group(3)
    assert main(["evaluate", str(ROOT / example.group(2))]) == 0
    assert f"{results['rel_l2']:.3e}" in capsys.readouterr().out
