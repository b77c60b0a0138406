"""A backend is one module and one registration: a backend written in this test file alone
runs through hf.fit, the summary, insights, reports, hf.compare, policy evaluation and the
command line; the documented wrappers take exactly their backends' options."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

import hteformula as hf
from hteformula import api
from hteformula.backends import (
    Backend,
    FittedModels,
    backend_names,
    get_backend,
    register,
    unregister,
)
from hteformula.backends.crossfit import cross_fit
from hteformula.backends.nuisance import (
    arm_outcome_tasks,
    arm_outcomes,
    doubly_robust_scores,
    fit_from_scores,
    per_arm_outcomes,
    projection_estimator,
)
from hteformula.cli import main

FORMULA = "Y ~ T * (age + engagement) + income"
FIT_ARGUMENTS = {
    "formula",
    "data",
    "cluster",
    "weights",
    "treatment",
    "reference",
    "missing",
    "better",
}


def fit_known_design(design, propensity=0.5, folds=3, seed=None, vcov=None):
    """Doubly robust scores from linear arm models and a known propensity, built on the
    shared nuisance layer: its whole inference is the projection of the scores."""
    estimator = projection_estimator(design, vcov)
    data, outcome = per_arm_outcomes(design, LinearRegression(), folds, seed)
    fitted = cross_fit(arm_outcome_tasks(data, outcome), data.folds)
    known = np.tile([1 - propensity, propensity], (design.nobs, 1))
    scores = doubly_robust_scores(data, arm_outcomes(data, outcome, fitted), known)
    return fit_from_scores(
        design, scores, estimator, diagnostics={"folds": len(data.folds)}, models=fitted.models
    )


@pytest.fixture
def known_design():
    backend = register(
        Backend("known_design", "known-design AIPW", fit_known_design, frozenset({"binary"}))
    )
    yield backend
    unregister(backend.name)


@pytest.fixture(scope="module")
def data():
    return hf.datasets.engagement_trial(n=800, seed=5)


def test_a_backend_from_a_test_file_runs_end_to_end(known_design, data, tmp_path, capsys):
    assert known_design.options == ("propensity", "folds", "seed", "vcov")
    res = hf.fit(FORMULA, data, method="known_design", seed=1)
    assert list(res.tidy().index) == ["T", "T:age", "T:engagement"]
    low, high = res.tidy().loc["T:engagement", ["conf_low", "conf_high"]]
    assert low < 3 < high  # the simulation's effect is 2 + 3 * engagement
    assert res.ate().conf_low < data["true_effect"].mean() < res.ate().conf_high
    assert "known-design AIPW" in str(res.summary())
    assert "best linear projection of AIPW scores" in str(res.summary())
    assert "engagement" in res.insights().drivers
    assert "known-design AIPW" in res.report(format="markdown")  # (figures: as every backend)
    value = res.policy_value(fraction=0.2)  # reuses the fit's own scores
    assert res.policy_scores().source == "the fit's own cross-fitted AIPW scores"
    assert value.gain.conf_low > 0
    assert len(res.models["outcome model of arm '1'"]) == 3
    with pytest.raises(hf.HTEError, match="'known_design' has no feature importance"):
        res.feature_importance()

    both = hf.compare(FORMULA, data, methods=["ols", "known_design"], seed=1)
    assert set(both.to_frame()["method"]) == {"ols", "known_design"}

    path = tmp_path / "trial.csv"
    data.to_csv(path, index=False)
    assert main(["fit", str(path), FORMULA, "--method", "known_design", "--seed", "1"]) == 0
    assert "known-design AIPW" in capsys.readouterr().out
    assert main(["compare", str(path), FORMULA, "--methods", "ols,known_design"]) == 0
    assert "known_design" in capsys.readouterr().out
    report = tmp_path / "cli.txt"
    assert main(["report", str(path), FORMULA, "--method", "known_design", "-o", str(report)]) == 0
    assert "known-design AIPW" in report.read_text()


def test_registering_a_name_twice_is_an_error(known_design):
    with pytest.raises(hf.HTEError, match="'known_design' is registered already"):
        register(Backend("known_design", "again", fit_known_design))
    assert get_backend("known_design").label == "known-design AIPW"


def test_options_come_from_the_fit_signature():
    assert get_backend("tlearner").options == (
        "model",
        "propensity",
        "folds",
        "overlap",
        "overlap_bound",
        "seed",
        "n_jobs",
        "progress",
        "vcov",
        "singular",
    )
    assert get_backend("drlearner").options == (
        *get_backend("tlearner").options[:2],
        "final_model",
        *get_backend("tlearner").options[2:],
    )
    with pytest.raises(hf.HTEError, match="'slearner' does not take the argument"):
        hf.fit(FORMULA, hf.datasets.engagement_trial(100, seed=0), "slearner", final_model=1)


@pytest.mark.parametrize("method", backend_names())
def test_each_wrapper_takes_its_backends_options_and_documents_them(method):
    wrapper = getattr(api, method)
    parameters = inspect.signature(wrapper).parameters
    backend = get_backend(method)
    options = [name for name in parameters if name not in FIT_ARGUMENTS]
    assert tuple(options) == backend.options
    for option in backend.parameters:
        assert parameters[option.name].default == option.default, option.name
    documented = wrapper.__doc__.split("Parameters\n")[1].split("Returns\n")[0]
    for name in [*options, *FIT_ARGUMENTS]:
        assert name in documented, f"{method}: {name} is not documented"
    assert getattr(hf, method) is wrapper


def test_fitted_models_answer_membership_and_get():
    models = FittedModels({"model_y": ("fitted",)})
    assert "model_y" in models and "model_t" not in models
    assert models.get("model_t") is None and models.get("model_y") == ("fitted",)
    with pytest.raises(hf.HTEError, match="no fitted model is called 'model_t'"):
        models["model_t"]
