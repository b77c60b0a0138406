"""``hteformula fit --save`` and ``hteformula score``: saved model, effects written to a file."""

from __future__ import annotations

import pandas as pd
import pytest

import hteformula as hf
from hteformula.cli import main


@pytest.fixture
def saved(tmp_path, capsys):
    df = hf.datasets.engagement_trial(n=400, seed=2)
    df["person"] = [f"p{i}" for i in range(len(df))]
    data = tmp_path / "trial.csv"
    df.to_csv(data, index=False)
    model = tmp_path / "model.pkl"
    assert main(["fit", str(data), "Y ~ T * (age + engagement)", "--save", str(model)]) == 0
    assert "saved the model" in capsys.readouterr().out
    return df, data, model


def test_score_writes_the_effects_of_the_saved_model(saved, tmp_path):
    df, data, model = saved
    out = tmp_path / "effects.csv"
    assert main(["score", str(model), str(data), "-o", str(out), "--id", "person"]) == 0
    written = pd.read_csv(out)
    expected = hf.ols("Y ~ T * (age + engagement)", df).effect(df)
    assert list(written.columns) == ["person", "estimate", "std_error", "conf_low", "conf_high"]
    assert written["person"].tolist() == df["person"].tolist()
    pd.testing.assert_frame_equal(
        written.drop(columns="person"), expected.reset_index(drop=True), rtol=1e-9
    )


def test_score_top_fraction_to_parquet(saved, tmp_path):
    pytest.importorskip("pyarrow")
    df, data, model = saved
    out = tmp_path / "targets.parquet"
    assert main(["score", str(model), str(data), "-o", str(out), "--fraction", "0.1"]) == 0
    written = pd.read_parquet(out)
    expected = hf.load(model).target(df, fraction=0.1)
    assert written["rank"].tolist() == list(range(1, 41))
    assert written["estimate"].tolist() == expected["estimate"].tolist()


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["-o", "out.txt"], "must end in .csv, .parquet or .pq"),
        (["-o", "out.csv", "--id", "nobody"], "--id column 'nobody'"),
    ],
)
def test_bad_score_arguments_print_one_line(saved, capsys, extra, fragment, tmp_path):
    _, data, model = saved
    extra = [str(tmp_path / a) if a.startswith("out") else a for a in extra]
    assert main(["score", str(model), str(data), *extra]) == 2
    assert fragment in capsys.readouterr().err


def test_score_refuses_a_file_that_is_not_a_model(saved, capsys):
    _, data, _ = saved
    assert main(["score", str(data), str(data), "-o", "x.csv"]) == 2
    assert "is not a saved hteformula result" in capsys.readouterr().err
