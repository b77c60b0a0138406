"""The hteformula command: fit, demo, one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

import hteformula as hf
from hteformula.cli import main


@pytest.fixture
def csv(tmp_path):
    path = tmp_path / "trial.csv"
    hf.datasets.engagement_trial(n=300, seed=4).to_csv(path, index=False)
    return str(path)


def test_fit_prints_the_summary(csv, capsys):
    assert main(["fit", csv, "Y ~ T * (age + engagement)", "--vcov", "HC3"]) == 0
    out = capsys.readouterr().out
    assert "interacted OLS" in out and "HC3" in out and "T:engagement" in out


def test_fit_with_clusters_and_weights(csv, tmp_path, capsys):
    data = hf.datasets.engagement_trial(n=300, seed=4).assign(w=1.5)
    path = tmp_path / "w.csv"
    data.to_csv(path, index=False)
    assert main(["fit", str(path), "Y ~ T * age", "--cluster", "region", "--weights", "w"]) == 0
    assert "clustered by region (4 clusters)" in capsys.readouterr().out


def test_demo_fits_the_simulated_trial(capsys):
    assert main(["demo", "--n", "500"]) == 0
    out = capsys.readouterr().out
    assert (
        "2 + 3 * engagement" in out and "Average effect (T)" in out and "True average effect" in out
    )


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["fit", "missing.csv", "Y ~ T * age"], "'missing.csv' does not exist"),
        (["fit", "{csv}", "Y ~ T * (agee + engagement)"], "'agee' is not in the data"),
        (["fit", "{csv}", "Y ~ T * (age"], "syntax error"),
        (["fit", "{csv}", "Y ~ T * age", "--vcov", "HC7"], "vcov='HC7'"),
    ],
)
def test_bad_input_prints_one_line_and_exits_2(csv, capsys, argv, fragment):
    argv = [a.replace("{csv}", csv) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_installed_command_runs_in_a_subprocess(csv):
    done = subprocess.run(
        [sys.executable, "-m", "hteformula.cli", "fit", csv, "Y ~ T * (age"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("hteformula: error: formula syntax error")
    assert "Traceback" not in done.stderr
