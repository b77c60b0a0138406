"""The learning-mindset study: hf.dml's average effect next to econml's LinearDML.

10,391 students in 76 schools (``../shared/data/learning_mindset.csv``); outcome
``achievement_score``, treatment ``intervention`` (a growth-mindset seminar,
taken up non-randomly). Both packages get the same 5 folds (stratified by the
treatment, schools kept whole) and the same seeded HistGradientBoosting
nuisance models. econml's standard errors are heteroskedasticity-robust (HC1)
and cannot cluster; hteformula's are printed both ways, HC1 (which must equal
econml's) and clustered by school (CR1, the honest ones: students in a school
share shocks).

    python benchmarks/learning_mindset.py [path/to/learning_mindset.csv]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from econml.dml import LinearDML
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import StratifiedGroupKFold

import hteformula as hf

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "shared" / "data" / "learning_mindset.csv"
MODIFIERS = ["school_mindset", "school_achievement"]
NUMERIC = ["success_expect", "frst_in_family", "school_ethnic_minority", "school_poverty"]
CATEGORICAL = ["ethnicity", "gender", "school_urbanicity"]
FORMULA = (
    "achievement_score ~ intervention * (school_mindset + school_achievement) + success_expect"
    " + C(ethnicity) + C(gender) + frst_in_family + C(school_urbanicity)"
    " + school_ethnic_minority + school_poverty + school_size"
)


def models():
    return (
        HistGradientBoostingRegressor(early_stopping=True, random_state=0),
        HistGradientBoostingClassifier(early_stopping=True, random_state=0),
    )


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PATH
    df = pd.read_csv(path)
    folds = list(
        StratifiedGroupKFold(5, shuffle=True, random_state=0).split(
            df, df["intervention"], df["schoolid"]
        )
    )
    rows = []
    for label, cluster in (
        ("hteformula dml, HC1", None),
        ("hteformula dml, CR1 by school", "schoolid"),
    ):
        model_y, model_t = models()
        ate = hf.dml(
            FORMULA,
            df,
            model_y=model_y,
            model_t=model_t,
            folds=folds,
            cluster=cluster,
            progress=False,
        ).ate()
        rows.append((label, ate.estimate, ate.std_error, ate.conf_low, ate.conf_high))

    model_y, model_t = models()
    W = np.column_stack(
        [
            df[[*NUMERIC, "school_size"]],
            pd.get_dummies(df[CATEGORICAL].astype(str), drop_first=True, dtype=float),
        ]
    )
    est = LinearDML(model_y=model_y, model_t=model_t, discrete_treatment=True, cv=folds)
    est.fit(df["achievement_score"], df["intervention"], X=df[MODIFIERS].to_numpy(), W=W)
    inference = est.ate_inference(df[MODIFIERS].to_numpy())
    low, high = inference.conf_int_mean(alpha=0.05)
    values = (inference.mean_point, inference.stderr_mean, low, high)
    rows.append(("econml LinearDML (HC1)", *(float(np.squeeze(v)) for v in values)))
    naive = df.groupby("intervention")["achievement_score"].mean().diff().iloc[-1]
    table = pd.DataFrame(rows, columns=["estimator", "ATE", "std_error", "conf_low", "conf_high"])
    print(f"learning mindset: {len(df):,} students, {df['schoolid'].nunique()} schools")
    print(f"naive difference in means: {naive:.3f}\n")
    print(table.to_string(index=False, float_format=lambda v: f"{float(v):.4f}"))


if __name__ == "__main__":
    main()
