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


def test_fit_prints_insights(csv, capsys):
    assert main(["fit", csv, "Y ~ T * (age + engagement)", "--unit", "points"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Insights" in out and "increases with engagement" in out and "points" in out


def test_demo_prints_insights(capsys):
    assert main(["demo", "--n", "800"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Insights" in out and "increases with engagement" in out


@pytest.mark.parametrize(
    ("name", "start"),
    [("r.html", "<!DOCTYPE html>"), ("r.md", "# Heterogeneous"), ("r.txt", "Heterogeneous")],
)
def test_report_format_from_the_extension(csv, tmp_path, capsys, name, start):
    out = tmp_path / name
    assert main(["report", csv, "Y ~ T * (age + engagement)", "-o", str(out)]) == 0
    assert out.read_text().startswith(start)
    assert f"wrote {out}" in capsys.readouterr().out


def test_report_format_can_be_forced(csv, tmp_path):
    out = tmp_path / "report.out"
    argv = ["report", csv, "Y ~ T * age", "-o", str(out), "--format", "markdown", "--vcov", "HC3"]
    assert main(argv) == 0
    assert out.read_text().startswith("# Heterogeneous") and "HC3" in out.read_text()


def test_parquet_input(tmp_path, capsys):
    pytest.importorskip("pyarrow", reason="Parquet needs pyarrow (the parquet extra)")
    path = tmp_path / "trial.parquet"
    hf.datasets.engagement_trial(n=300, seed=4).to_parquet(path)
    assert main(["fit", str(path), "Y ~ T * engagement", "--vcov", "HC2"]) == 0
    assert "HC2" in capsys.readouterr().out


def test_compare_prints_the_side_by_side_table(csv, capsys):
    assert main(["compare", csv, "Y ~ T * (age + engagement)", "--methods", "ols"]) == 0
    out = capsys.readouterr().out
    assert "Comparison of ols" in out and "ATE (T)" in out and "T:engagement" in out


def test_seed_goes_only_to_methods_that_use_it(csv, capsys):
    # ols is deterministic: a seed is accepted and has nothing to do.
    assert main(["fit", csv, "Y ~ T * age", "--seed", "3"]) == 0


def test_help_teaches_the_formula(capsys):
    with pytest.raises(SystemExit) as done:
        main(["report", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "outcome ~ treatment * (modifiers) + controls" in out
    assert 'hteformula report trial.parquet "Y ~ T * (age + engagement)" -o report.html' in out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["report", "{csv}", "Y ~ T * age", "-o", "/nonexistent/dir/r.html"], "cannot write"),
        (["fit", "{csv}", "Y ~ T * age", "--level", "95"], "level=95.0"),
        (["compare", "{csv}", "Y ~ T * age", "--methods", "ols,nope"], "method='nope'"),
        (["fit", "{bad}", "Y ~ T * age"], "cannot read"),
    ],
)
def test_more_bad_input_is_one_line(csv, tmp_path, capsys, argv, fragment):
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    argv = [a.replace("{csv}", csv).replace("{bad}", str(bad)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "argv", [["fit"], ["fit", "x.csv", "Y ~ T", "--method", "nope"], ["report", "x.csv", "Y ~ T"]]
)
def test_usage_errors_are_one_line_with_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hteformula ") and "--help" in err


def test_report_with_a_targeting_section(csv, tmp_path):
    out = tmp_path / "r.md"
    argv = ["report", csv, "Y ~ T * engagement", "-o", str(out), "--target", "0.2"]
    assert main([*argv, "--propensity", "0.5", "--seed", "1"]) == 0
    assert "## Targeting" in out.read_text() and "Treating the 20%" in out.read_text()


def test_report_with_a_bad_target_is_one_line(csv, tmp_path, capsys):
    out = tmp_path / "r.md"
    argv = ["report", csv, "Y ~ T * engagement", "-o", str(out), "--target", "1.5"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "fraction=1.5" in err and len(err.splitlines()) == 1


# -- issue 17, item 5 ------------------------------------------------------------------


def test_a_closed_pipe_ends_quietly(csv):
    """``hteformula fit ... | head -1``: the reader leaves early; no 'Broken pipe', exit 0."""
    command = [sys.executable, "-m", "hteformula.cli", "fit", csv, "Y ~ T * age"]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # the reader is gone before the first line is written
    assert child.wait(timeout=120) == 0
    assert child.stderr.read() == b""


def test_report_refuses_an_extension_it_cannot_write(csv, tmp_path, capsys):
    out = tmp_path / "r.pdf"
    assert main(["report", csv, "Y ~ T * age", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "cannot write a report as '.pdf'" in err and err.count("\n") == 1
    assert not out.exists()
    assert main(["report", csv, "Y ~ T * age", "-o", str(out), "--format", "text"]) == 0


def test_a_missing_model_file_is_named(tmp_path, capsys):
    argv = ["score", str(tmp_path / "nope.pkl"), str(tmp_path / "x.csv"), "-o", "out.csv"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "model file" in err and "nope.pkl' does not exist" in err and "Errno" not in err


def test_learners_take_propensity_folds_and_seed(csv, capsys):
    argv = ["fit", csv, "Y ~ T * (age + engagement)", "--method", "tlearner"]
    assert main([*argv, "--propensity", "0.5", "--folds", "3", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "3 folds; propensity known: 0.5 for every row" in out
    data = hf.datasets.engagement_trial(n=300, seed=4)
    api = hf.tlearner("Y ~ T * (age + engagement)", data, propensity=0.5, folds=3, seed=1)
    assert f"{api.ate().estimate:.4g}" in out


def test_a_propensity_column_by_name(csv, tmp_path, capsys):
    data = hf.datasets.engagement_trial(n=300, seed=4).assign(p=0.5)
    path = tmp_path / "p.csv"
    data.to_csv(path, index=False)
    argv = ["fit", str(path), "Y ~ T * engagement", "--method", "tlearner", "--propensity", "p"]
    assert main([*argv, "--folds", "2"]) == 0
    assert "propensity" in capsys.readouterr().out


@pytest.mark.parametrize("option", [["--folds", "3"], ["--propensity", "0.5"]])
def test_an_option_the_method_does_not_take_is_refused(csv, capsys, option):
    assert main(["fit", csv, "Y ~ T * age", *option]) == 2
    err = capsys.readouterr().err
    assert f"{option[0]} is not an option of ols" in err and "tlearner" in err


def test_better_lower_on_the_command_line(tmp_path, capsys):
    path = tmp_path / "churn.csv"
    hf.datasets.pricing_churn(n=2000, seed=0).to_csv(path, index=False)
    out = tmp_path / "r.txt"
    argv = ["report", str(path), "churned ~ discount * engagement", "-o", str(out)]
    assert main([*argv, "--better", "lower", "--target", "0.4", "--propensity", "0.5"]) == 0
    text = out.read_text()
    assert "lower churned" in text and "most negative estimated effects" in text


@pytest.mark.parametrize(
    ("method", "fragments"),
    [
        ("tlearner", ["propensity estimated by a cross-fitted LogisticRegressionCV on standard"]),
        ("dml", ["outcome RandomForestRegressor", "propensity RandomForestClassifier"]),
    ],
)
def test_a_named_model_reaches_every_model_of_the_method(csv, capsys, method, fragments):
    name = "linear" if method == "tlearner" else "forest"
    argv = ["fit", csv, "Y ~ T * (age + engagement)", "--method", method, "--model", name]
    assert main([*argv, "--folds", "3", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert all(fragment in out for fragment in fragments), out
    if method == "tlearner":  # the API takes the same name
        data = hf.datasets.engagement_trial(n=300, seed=4)
        api = hf.tlearner("Y ~ T * (age + engagement)", data, model="linear", folds=3, seed=1)
        assert type(api.models["outcome model of arm '1'"][0].estimator_).__name__ == "RidgeCV"


def test_model_with_a_method_without_models_is_refused(csv, capsys):
    assert main(["fit", csv, "Y ~ T * age", "--model", "forest"]) == 2
    assert "--model is not an option of ols" in capsys.readouterr().err


def test_report_segments_follow_the_flag(csv, tmp_path):
    out = tmp_path / "r.md"
    argv = ["report", csv, "Y ~ T * engagement", "-o", str(out)]
    assert main(argv) == 0 and "## Segments" not in out.read_text()  # ols: no scores of its own
    assert main([*argv, "--segments", "--seed", "1"]) == 0
    assert "## Segments" in out.read_text() and "engagement" in out.read_text()
    assert main([*argv, "--propensity", "0.5", "--no-segments"]) == 0
    assert "## Segments" not in out.read_text()
