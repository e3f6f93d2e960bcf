"""In-silico trials (capability C9): simulate a randomised trial many times on artificial
patients or digital twins, analyse each with unadjusted, ANCOVA and prognostic-covariate-adjusted
(PROCOVA) estimators, and borrow external or artificial controls with honest diagnostics."""

from jumeau.trials.analysis import Estimate, analyse_continuous, analyse_survival
from jumeau.trials.design import Arm, Endpoint, TrialDesign
from jumeau.trials.populations import CohortPopulation, PatientDraw, Population, TwinPopulation
from jumeau.trials.procova import PrognosticModel, sample_size_for_power
from jumeau.trials.simulate import TrialSimulation, simulate

__all__ = [
    "Arm",
    "CohortPopulation",
    "Endpoint",
    "Estimate",
    "PatientDraw",
    "Population",
    "PrognosticModel",
    "TrialDesign",
    "TrialSimulation",
    "TwinPopulation",
    "analyse_continuous",
    "analyse_survival",
    "sample_size_for_power",
    "simulate",
]
