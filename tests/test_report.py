"""Reports: golden text and Markdown, self-contained HTML rendered in headless Chromium.

Golden files live in tests/golden/. After an intended wording or layout change,
regenerate them and review the diff:

    HTEFORMULA_UPDATE_GOLDEN=1 python -m pytest tests/test_report.py -k golden
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hteformula as hf
from headless_chromium import CHROMIUM, SKIP_REASON, run_chromium
from hteformula.report.content import format_diagnostics

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_FORMULA = "Y ~ T * (age + engagement + C(region)) + income"
UPDATE = os.environ.get("HTEFORMULA_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def golden_result():
    return hf.ols(GOLDEN_FORMULA, hf.datasets.engagement_trial(n=2000, seed=0))


@pytest.fixture(scope="module")
def golden_html(golden_result, tmp_path_factory):
    """The HTML report of the golden example, drawn once for the tests that read it."""
    return golden_result.report(tmp_path_factory.mktemp("html") / "report.html")


@pytest.mark.parametrize(("name", "format"), [("report.txt", "text"), ("report.md", "markdown")])
def test_golden_reports(golden_result, name, format):
    text = golden_result.report(format=format)
    golden = GOLDEN / name
    if UPDATE:
        golden.write_text(text, encoding="utf-8")
    expected = golden.read_text(encoding="utf-8")
    assert text == expected, (
        f"{name} changed; if intended, regenerate with HTEFORMULA_UPDATE_GOLDEN=1 and review"
    )


def test_reports_say_what_the_result_says(golden_result):
    text = golden_result.report()
    assert "Observations  2,000" in text and "49.1% (983 of 2,000)" in text
    assert golden_result.insights().sentences[0] in " ".join(text.split())
    assert "T:C(region)[T.west]" in text and "Wald F(5, 1987)" in text
    assert "R squared" in text  # the backend's diagnostics


def test_dropped_rows_and_multi_arm_shares_are_reported(trial):
    holed = trial.copy()
    holed.loc[:9, "age"] = np.nan
    text = hf.ols("Y ~ C(arm) * (age + engagement)", holed).report()
    assert "10 dropped for missing values: age 10" in text
    arms = holed.dropna(subset=["age"])["arm"].value_counts()
    assert f"call {arms['call'] / arms.sum():.1%} ({arms['call']:,})" in text


def test_continuous_treatment_describes_its_spread(trial):
    text = hf.ols("Y ~ dose * engagement + T", trial, treatment="dose").report()
    assert f"mean {trial['dose'].mean():.3g}" in text


def test_format_follows_the_extension(golden_result, golden_html, tmp_path):
    html_path = golden_html
    md_path = golden_result.report(tmp_path / "r.md")
    txt_path = golden_result.report(tmp_path / "r.txt")
    assert html_path.read_text().startswith("<!DOCTYPE html>")
    assert md_path.read_text().startswith("# Heterogeneous")
    assert txt_path.read_text().startswith("Heterogeneous")
    # Markdown figures are PNG files beside the report, linked relatively.
    figures = sorted(p.name for p in (tmp_path / "r_files").iterdir())
    assert figures == [
        "coefficients.png",
        "contributions.png",
        "effect-along-age.png",
        "effect-along-engagement.png",
        "effect-along-region.png",
        "effect-distribution.png",
    ]
    assert "](r_files/effect-along-age.png)" in md_path.read_text()
    assert all((tmp_path / "r_files" / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)


def test_html_is_self_contained(golden_html):
    page = golden_html.read_text()
    assert "name='viewport'" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert page.count("src='data:image/png;base64,") == 6  # with the contributions figure


def test_without_matplotlib_text_and_markdown_work_and_html_says_why(golden_result, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert golden_result.report().startswith("Heterogeneous")
    assert "## Insights" in golden_result.report(format="markdown")
    page = golden_result.report(format="html")
    assert "<img" not in page and "pip install hteformula[plots]" in page


def test_bad_format_and_level(golden_result, tmp_path):
    with pytest.raises(hf.HTEError, match="format='pdf'"):
        golden_result.report(format="pdf")
    with pytest.raises(hf.HTEError, match=r"level=1\.5"):
        golden_result.report(level=1.5)
    with pytest.raises(hf.HTEError, match="cannot write the report"):
        golden_result.report(tmp_path / "missing-folder" / "r.txt")


def test_diagnostics_of_any_shape_are_formatted():
    rows = dict(
        format_diagnostics(
            {
                "r2_y": 0.41234,
                "propensity": {"auc": 0.5123, "range": (0.31, 0.69)},
                "n_folds": 5,
                "scores": np.linspace(0, 1, 50),
                "overlap_ok": True,
                "learner": "HistGradientBoostingRegressor",
                "aipw": object(),
                "fold_pairs": [(np.arange(3), np.arange(3, 5)), (np.arange(2), np.arange(2, 5))],
            }
        )
    )
    assert rows["aipw"] == "object (in result.fit.diagnostics['aipw'])"
    assert rows["fold pairs"] == "list (in result.fit.diagnostics['fold_pairs'])"
    assert rows["r2 y"] == "0.4123"
    assert rows["propensity: auc"] == "0.5123" and rows["propensity: range"] == "0.31, 0.69"
    assert rows["n folds"] == "5" and rows["overlap ok"] == "yes"
    assert rows["scores"].startswith("50 values from 0 to 1")


# -- a real browser ------------------------------------------------------------------------

# Written into the page only for this test: after load, record what the browser laid out.
PROBE = """<script>
window.addEventListener('load', () => {
  for (const img of document.images) {
    img.setAttribute('data-natural', img.naturalWidth + 'x' + img.naturalHeight);
  }
  document.body.setAttribute('data-overflow',
    String(document.documentElement.scrollWidth > window.innerWidth));
});
</script></body>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return run_chromium(tmp_path / "chromium-profile", *args, window="412,915")  # a phone


@pytest.mark.skipif(CHROMIUM is None, reason=SKIP_REASON)
def test_html_report_renders_in_headless_chromium(golden_html, tmp_path):
    report = golden_html
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", PROBE), encoding="utf-8")

    done = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    sizes = re.findall(r'data-natural="(\d+)x(\d+)"', done.stdout)
    assert len(sizes) == 6, done.stdout[:500]
    assert all(int(w) > 0 and int(h) > 0 for w, h in sizes)  # every figure decoded
    assert 'data-overflow="false"' in done.stdout  # no sideways scrolling on a phone

    shot = tmp_path / "shot.png"
    done = _chromium(tmp_path, f"--screenshot={shot}", report.as_uri())
    assert done.returncode == 0 and shot.exists(), done.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape[1] >= 400
    assert pixels.std() > 10  # text and tables drawn, not a blank page
    assert (pixels < 128).mean() > 0.01


# -- every backend, through the public result only -----------------------------------------


class _Curved:
    """Per-row effects that are non-linear in engagement, without standard errors."""

    def __init__(self, column: int) -> None:
        self.column = column

    def predict(self, features):
        return (1 + np.abs(features[:, self.column]))[:, None]


def _learner_like(design):
    """A backend shaped like the meta-learners: out-of-fold rows, predictor, AIPW-style ATE."""
    from hteformula.backends.base import EffectFit
    from hteformula.inference import estimate_from

    predictor = _Curved(design.spec.feature_names.index("engagement"))
    effects = predictor.predict(design.features)
    coef, *_ = np.linalg.lstsq(design.modifiers, effects[:, 0], rcond=None)
    return EffectFit(
        coef=coef,
        vcov=np.eye(len(coef)) * 1e-3,
        df=float("inf"),
        vcov_label="HC3 (best linear projection)",
        in_sample=effects,
        predictor=predictor,
        ate=(estimate_from(effects.mean(), 0.05, float("inf"), label="T"),),
        diagnostics={
            "outcome_r2": {"control": 0.41, "treated": 0.38},
            "propensity": {"auc": 0.512, "range": (0.31, 0.69), "share_outside": 0.0},
        },
        notes=("Per-person effects have no standard errors.",),
    )


@pytest.fixture
def learner_like(monkeypatch):
    from hteformula.backends import base

    backend = base.Backend("learner_like", "learner-like", _learner_like)
    monkeypatch.setitem(base._REGISTRY, "learner_like", backend)
    return backend


def test_a_learner_like_backend_reports_its_diagnostics_and_figures(learner_like, trial):
    res = hf.fit("Y ~ T * (age + engagement)", trial, method="learner_like")
    text = res.report()
    assert "outcome r2: control" in text and "propensity: auc" in text
    assert "0.31, 0.69" in text and "Per-person effects have no standard errors." in text
    assert "best linear projection" in " ".join(text.split())
    page = res.report(format="html")
    # distribution, age, engagement, coefficients, contributions
    assert page.count("src='data:image/png;base64,") == 5


@pytest.mark.parametrize(
    ("formula", "treatment", "figures"),
    [
        ("Y ~ C(arm) * (age + engagement)", None, 6),  # a contributions figure per arm
        ("Y ~ dose * (engagement + C(region)) + T", "dose", 5),
    ],
)
def test_multi_arm_and_continuous_reports_draw_their_figures(trial, formula, treatment, figures):
    page = hf.ols(formula, trial, treatment=treatment).report(format="html")
    assert page.count("src='data:image/png;base64,") == figures


def test_targeting_section_reports_the_cross_fitted_policy_value():
    from sklearn.linear_model import LinearRegression

    df = hf.datasets.engagement_trial(n=1500, seed=4)
    res = hf.ols("Y ~ T * (age + engagement)", df)
    options = {"propensity": 0.5, "model": LinearRegression()}
    assert "Targeting" not in res.report()  # opt-in: it refits the model per fold
    text = res.report(format="markdown", target=0.2, **options)
    value = res.policy_value(fraction=0.2, **options)
    section = text.split("## Targeting")[1].split("## Diagnostics")[0]
    gain = value.gain
    assert hf.summary.format_number(gain.estimate) in section
    assert hf.summary.format_number(gain.conf_low) in section
    assert gain.conf_low > 0 and "targeting by the estimated effect pays" in section
    assert "| gain of targeting |" in section and "IPW" in section


def test_targeting_curve_is_embedded_in_the_html_report(tmp_path):
    pytest.importorskip("matplotlib")
    from sklearn.linear_model import LinearRegression

    df = hf.datasets.engagement_trial(n=1000, seed=5)
    res = hf.ols("Y ~ T * engagement", df)
    path = res.report(tmp_path / "r.html", target=0.3, propensity=0.5, model=LinearRegression())
    page = path.read_text()
    assert "<h2>Targeting</h2>" in page and "id='targeting-curve'" in page


def test_decision_sentence_follows_the_interval():
    from hteformula.inference import estimate_from
    from hteformula.report.targeting import decision_sentence

    unclear = decision_sentence(estimate_from(0.1, 0.2, df=float("inf")), 0.2, 20, 100)
    worse = decision_sentence(estimate_from(-1.0, 0.2, df=float("inf")), 0.2, 20, 100)
    assert unclear.endswith("cannot tell targeting from random assignment.")
    assert "do not target by it" in worse


def test_segments_section_for_learners_and_on_request():
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression

    df = hf.datasets.masked_trial(n=1200, seed=3)
    ols = hf.ols("Y ~ T * (X1 + X2)", df)
    assert "## Segments" not in ols.report(format="markdown")  # scores would need new fits
    text = ols.report(format="markdown", propensity=0.5, model=LinearRegression())
    section = text.split("## Segments")[1].split("## Effect coefficients")[0]
    found = ols.segments(propensity=0.5, model=LinearRegression())
    first = found.segments[0]
    assert f"| {first.rule} | {first.share:.0%} |" in section
    learner = hf.tlearner(
        "Y ~ T * (X1 + X2)",
        df,
        model=HistGradientBoostingRegressor(max_iter=20, random_state=0),
        propensity=0.5,
        seed=0,
    )
    assert "Segments" in learner.report()
    assert "Segments" not in learner.report(segments=False)
