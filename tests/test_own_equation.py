"""A user's own equation, from a file outside the repository, through every command; an
installed plug-in by its name; a malformed class refused in one line before any training."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import equations
import pinn_pac.runs.solve_job
from equations import EquationSource
from equations.family_files import FamilyText
from pinn_pac.solver.equation_check import check_equation_class
from pinn_pac.cli import main
from pinn_pac.runs import evaluate_run

LOGISTIC = '''import numpy as np
from equations import Coefficient, DirichletCondition, Equation, ExactForm


class Logistic(Equation):
    name = "logistic"
    summary = "u' = r u (1 - u); t in [0, 1]; u(0) = 0.1"
    inputs = ("t",)
    coefficient_specs = (Coefficient("r", 3.0, 0.0, 20.0, "the growth rate r in (0, 20)"),)
    derivatives = ("u_t",)
    example_targets = "r=2;r=4"
    domain = property(lambda self: {"t": (0.0, 1.0)})

    def conditions(self):
        return [DirichletCondition("initial", on="t", at=(0.0,), value=lambda p: 0.1 + 0 * p)]

    def exact_form(self):
        return ExactForm(offset=lambda p: 0.1 + 0 * p, factor=lambda p: p, imposes=("initial",))

    def residual(self, f):
        r = self.coefficients["r"]
        return f["u_t"] - r * f["u"] * (1 - f["u"])

    def standard_grid(self):
        return {"t": np.linspace(0.0, 1.0, 201)}

    def reference(self, grid):
        growth = 0.1 * np.exp(self.coefficients["r"] * np.asarray(grid["t"]))
        return growth / (growth + 0.9)
'''
TINY = ["--width", "8", "--depth", "2", "--points", "128", "--condition-points", "8", "--quiet",
        "--derivatives", "autograd", "--threads", "1", "--rad-every", "0"]
SHORT = ["--source-adam", "40", "--source-iterations", "20", "--allocate-iterations", "5",
         "--calibrate-iterations", "15"]


def records(run_dir: Path, name: str = "results.json") -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in json.loads((run_dir / name).read_text())]


@pytest.fixture
def user_file(as_user_file) -> str:
    """The family in a folder of its own; commands run from another working directory."""
    return as_user_file("logistic.py", LOGISTIC, "Logistic")


def test_a_users_file_goes_through_solve_evaluate_and_predict(user_file, tmp_path, capsys):
    assert main(["solve", user_file, "--r", "4", *TINY, "--adam", "60", "--iterations", "40", "--out", "s"]) == 0
    saved = records(Path("s"))
    assert saved[0]["equation"] == "logistic" and saved[0]["coefficients"] == {"r": 4.0}
    assert 0 < saved[0]["rel_l2"] < 0.05
    assert [r.rel_l2 for r in evaluate_run(Path("s"))] == [saved[0]["rel_l2"]]
    os.chdir(tmp_path)  # evaluate and predict find the file where the run recorded it
    assert main(["predict", "work/s", "--grid", "t=0:1:11", "--out", "u.npz"]) == 0
    u = np.load(tmp_path / "u.npz")["u"]
    assert u.shape == (11,) and u[0] == pytest.approx(0.1, abs=1e-15)  # the exact form holds
    manifest = json.loads((tmp_path / "work/s/manifest.json").read_text())
    assert manifest["job"]["equation_source"]["kind"] == "file"
    assert len(manifest["job"]["equation_source"]["sha256"]) == 64


def test_a_users_file_goes_through_transfer_with_workers_from_and_resume(user_file, killed_at):
    same_work = ["--warm-start", "zero"]  # at the default, one process starts targets from their neighbours
    assert main(["transfer", user_file, "--targets", "r=2..4:3", *TINY, *SHORT, *same_work, "--workers", "2",
                 "--out", "t"]) == 0
    assert main(["transfer", user_file, "--targets", "r=2..4:3", *TINY, *SHORT, *same_work, "--out", "one"]) == 0
    assert records(Path("t")) == records(Path("one"))  # two worker processes, one process: the same records
    with killed_at(lambda piece, _: piece.startswith("pac/r=5")):
        main(["transfer", "--from", "t", "--targets", "r=5,r=6", "--quiet"])
    assert main(["transfer", "--resume", "t", "--quiet"]) == 0
    coefficients = [r["coefficients"]["r"] for r in records(Path("t"))]
    assert coefficients == [3.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert records(Path("t"))[:4] == records(Path("one"))


def test_a_local_ray_with_a_users_file_gives_the_process_pools_records(user_file):
    pytest.importorskip("ray")
    common = ["transfer", user_file, "--targets", "r=2,r=4", *TINY, *SHORT]
    assert main([*common, "--workers", "2", "--out", "pool"]) == 0
    assert main([*common, "--ray", "--out", "ray"]) == 0
    assert records(Path("ray")) == records(Path("pool"))


def test_a_file_travels_by_value_where_it_is_not_on_disk(tmp_path):
    """What a Ray task on another machine gets: the file's text (and its helpers'), not its path."""
    path = tmp_path / "elsewhere.py"
    gone = EquationSource("file", f"{path}:Logistic", "logistic", str(path), None, FamilyText(path, LOGISTIC))
    assert gone.load()(r=2.0).coefficients == {"r": 2.0}


def test_a_changed_file_is_refused_and_a_moved_one_can_be_pointed_at(user_file, tmp_path, capsys):
    assert main(["solve", user_file, *TINY, "--adam", "20", "--iterations", "5", "--out", "s"]) == 0
    capsys.readouterr()
    path = Path(user_file.rpartition(":")[0])
    path.write_text(LOGISTIC + "\n# edited\n")
    assert main(["evaluate", "s"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "changed since the run was made" in error and "--allow-changed-equation" in error
    assert main(["evaluate", "s", "--allow-changed-equation"]) == 0
    moved = tmp_path / "moved.py"
    moved.write_text(LOGISTIC)
    path.unlink()
    assert main(["evaluate", "s"]) == 2
    assert "--equation-from NEW_PATH.py:ClassName" in capsys.readouterr().err
    assert main(["evaluate", "s", "--equation-from", f"{moved}:Logistic"]) == 0
    assert main(["solve", "--resume", "s", "--equation-from", f"{moved}:Logistic"]) == 2  # finished: nothing to do


def test_an_installed_plugin_is_listed_and_solvable_by_its_name(tmp_path):
    """A package with an entry point in the group pinn_pac.equations, installed in a folder
    on the path (a distribution's .dist-info beside its package, as pip leaves them)."""
    site = tmp_path / "site"
    (site / "logistic_plugin").mkdir(parents=True)
    (site / "logistic_plugin" / "__init__.py").write_text(LOGISTIC.replace('name = "logistic"',
                                                                            'name = "logistic-plugin"'))
    info = site / "logistic_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: logistic-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pinn_pac.equations]\nlogistic-plugin = logistic_plugin:Logistic\n")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}

    def pinn_pac(*args):
        return subprocess.run([sys.executable, "-m", "pinn_pac.cli", *args], cwd=tmp_path, env=environment,
                              capture_output=True, text=True, timeout=300)

    listed = pinn_pac("equations")
    assert listed.returncode == 0 and "installed (entry points in the group pinn_pac.equations)" in listed.stdout
    assert "logistic-plugin      u' = r u (1 - u)" in listed.stdout
    solved = pinn_pac("solve", "logistic-plugin", *TINY, "--adam", "30", "--iterations", "10", "--out", "run")
    assert solved.returncode == 0, solved.stderr
    record = json.loads((tmp_path / "run" / "results.json").read_text())[0]
    assert record["equation"] == "logistic-plugin" and math.isfinite(record["rel_l2"])
    evaluated = pinn_pac("evaluate", "run")
    assert evaluated.returncode == 0 and f"{record['rel_l2']:.3e}" in evaluated.stdout


MALFORMED = [
    ('    summary = "u\' = r u (1 - u); t in [0, 1]; u(0) = 0.1"\n', "", "summary: must be a string"),
    ('inputs = ("t",)', 'inputs = "t"', "inputs: must be a tuple of names"),
    ('derivatives = ("u_t",)', 'derivatives = ("u_q",)', "derivatives: "),
    ('domain = property(lambda self: {"t": (0.0, 1.0)})', 'domain = property(lambda self: {"x": (0.0, 1.0)})',
     "domain: no finite bound (low, high) with low < high for input 't'"),
    ('Coefficient("r", 3.0, 0.0, 20.0', 'Coefficient("r", 30.0, 0.0, 20.0',
     "coefficient_specs: r's default 30 is outside its own range (0, 20)"),
    ('return f["u_t"] - r * f["u"] * (1 - f["u"])', 'return f["u_tt"] - r * f["u"]', "residual: raised KeyError"),
    ('return f["u_t"] - r * f["u"] * (1 - f["u"])', 'return (f["u_t"] - r * f["u"]).sum()',
     "residual: returned () on 16 points; it must be a (16, k) tensor"),
    ("factor=lambda p: p,", "factor=lambda p: p @ p,", "exact_form.factor: raised RuntimeError"),
    ("factor=lambda p: p,", "factor=lambda p: p.sum(),", "exact_form.factor: returned () on 16 points"),
    ("offset=lambda p: 0.1 + 0 * p,", "offset=lambda p: 0.2 + 0 * p,",
     "exact_form: claims to impose initial (u on t=0), but its offset misses the value by 0.1"),
    ("factor=lambda p: p,", "factor=lambda p: p + 1,", "exact_form: claims to impose initial, but its factor is 1"),
    ('imposes=("initial",)', 'imposes=("start",)', "exact_form: imposes start, which conditions() does not declare"),
    ("return growth / (growth + 0.9)", "return (growth / (growth + 0.9))[:, None]",
     "reference: returned shape (3, 1) on a grid of 3 points per input; it must be (3,)"),
]


@pytest.mark.parametrize("old, new, message", MALFORMED, ids=[m[2].split(":")[0] + str(i) for i, m in enumerate(MALFORMED)])
def test_a_malformed_class_gets_one_line_naming_the_attribute_before_any_training(
    old, new, message, tmp_path, capsys, monkeypatch,
):
    assert LOGISTIC.count(old) == 1
    path = tmp_path / "bad.py"
    path.write_text(LOGISTIC.replace(old, new))
    monkeypatch.setattr(pinn_pac.runs.solve_job, "train", lambda *a, **k: pytest.fail("training started"))
    assert main(["solve", f"{path}:Logistic", *TINY, "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith(f"pinn-pac: error: {path}:Logistic: ") and message in error, error
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("spec, message", [
    ("{tmp}/none.py:Logistic", "cannot read"),
    ("{tmp}/good.py:Missing", "no class Missing there (it defines: Logistic)"),
    ("no_such_module_here:Logistic", "cannot import no_such_module_here"),
    ("logistc", "unknown equation 'logistc'; available: allen-cahn, burgers"),
])
def test_an_equation_spec_that_names_nothing_gets_one_line(spec, message, tmp_path, capsys):
    (tmp_path / "good.py").write_text(LOGISTIC)
    assert main(["solve", spec.format(tmp=tmp_path), *TINY, "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error, error


@pytest.mark.parametrize("name", sorted(equations.FAMILIES))
def test_every_built_in_family_passes_the_check_a_users_class_gets(name):
    check_equation_class(equations.FAMILIES[name], name)
