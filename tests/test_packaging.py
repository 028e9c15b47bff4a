"""pinn-pac as a package others depend on: a torch range (the exact pin is CI's, in
constraints.txt), `python -m pinn_pac`, typing marker and license; the README's test command is
what .ci/run runs."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def requirement(name: str) -> Requirement:
    (found,) = [r for r in map(Requirement, PROJECT["dependencies"]) if r.name == name]
    return found


def constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip()] = version.strip()
    return pins


def test_torch_is_a_range_that_holds_the_constrained_version():
    torch = requirement("torch")
    assert not any(spec.operator in ("==", "===") for spec in torch.specifier), torch
    assert {spec.operator for spec in torch.specifier} >= {">=", "<"}, torch
    assert constraints()["torch"] in torch.specifier


def test_installed_torch_is_in_the_range():
    import torch

    assert requirement("torch").specifier.contains(Version(torch.__version__), prereleases=True), torch.__version__


def test_license_and_typing_marker_ship():
    assert PROJECT["license"] == "MIT" and (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert (ROOT / "pinn_pac" / "py.typed").is_file()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["pinn_pac"]


def test_the_readme_test_command_is_what_ci_runs_with_the_constraints():
    readme = (ROOT / "README.md").read_text()
    (command,) = [line for line in re.findall(r"^```bash\n(.*?)^```", readme, re.M | re.S)
                  if "python -m pytest" in line]
    command = command.strip()
    assert "-c constraints.txt" in command and "ruff check" in command
    assert command in (ROOT / ".ci/run").read_text().splitlines()


def test_python_dash_m_runs_the_command_and_passes_its_exit_status(tmp_path):
    shown = subprocess.run([sys.executable, "-m", "pinn_pac", "--help"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and shown.stdout.startswith("usage: pinn-pac"), shown.stderr
    refused = subprocess.run([sys.executable, "-m", "pinn_pac", "evaluate", str(tmp_path / "none")],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120)
    # The last line: a first import in a fresh environment may print a note before it.
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.splitlines()[-1].startswith("pinn-pac: error: no checkpoint"), refused.stderr
