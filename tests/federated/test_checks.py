"""Each site checks its data against the consortium's schema and reports columns and counts only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jumeau.data.cohort import Cohort
from jumeau.federated.checks import SiteDataError, check_site_data
from jumeau.federated.coordinator import Coordinator
from jumeau.federated.local import run_locally
from jumeau.federated.site import Site


def _broken_site(gbsg2: Cohort) -> pd.DataFrame:
    frame = gbsg2.data.astype(object).iloc[:60].copy()
    frame.loc[:4, "tsize"] = "12mm"  # a unit typed into a number, 5 rows
    frame.loc[:2, "tgrade"] = "IV"  # a grade the schema does not know, 3 rows
    return frame.drop(columns=["pnodes"])


def test_problems_name_the_column_and_count_never_a_value(gbsg2: Cohort) -> None:
    problems = check_site_data(_broken_site(gbsg2), gbsg2.schema)
    by_column = {p.column: p for p in problems}
    assert set(by_column) == {"tsize", "tgrade", "pnodes"}
    assert by_column["tsize"].count == 5
    assert by_column["tgrade"].count == 3
    assert "missing" in by_column["pnodes"].problem
    text = " ".join(str(p) for p in problems)
    assert "12mm" not in text and "IV" not in text


def test_bounds_and_rules_are_checked_once_the_columns_read(gbsg2: Cohort) -> None:
    frame = gbsg2.data.astype(object).iloc[:60].copy()
    frame.loc[:1, "age"] = -3  # below the bound the schema infers
    schema = gbsg2.schema.model_copy(deep=True)
    schema.columns["age"].min = 18
    problems = check_site_data(frame, schema)
    assert [(p.column, p.count) for p in problems] == [("age", 2)]
    assert "-3" not in str(problems[0])


def test_the_server_stops_before_training_and_names_the_site(gbsg2: Cohort) -> None:
    sites = [Site(gbsg2.data.iloc[60:], "good"), Site(_broken_site(gbsg2), "bad")]
    with pytest.raises(SiteDataError, match="site bad: ") as caught:
        run_locally(Coordinator(gbsg2.schema, "copula"), sites)
    message = str(caught.value)
    assert "tsize" in message and "pnodes" in message and "good" not in message
    assert "12mm" not in message


def test_a_site_too_small_to_train_is_refused(gbsg2: Cohort) -> None:
    sites = [Site(gbsg2.data.iloc[20:], "large"), Site(gbsg2.data.iloc[:12], "tiny")]
    with pytest.raises(SiteDataError, match="site tiny: 12 patients, fewer than 20"):
        run_locally(Coordinator(gbsg2.schema, "copula"), sites)


def test_fewer_sites_than_the_consortium_needs(gbsg2: Cohort) -> None:
    from jumeau.errors import JumeauError
    from jumeau.federated.config import FederatedConfig

    coordinator = Coordinator(gbsg2.schema, "copula", settings=FederatedConfig(min_sites=3))
    with pytest.raises(JumeauError, match="1 site\\(s\\) answered; the consortium needs 3"):
        run_locally(coordinator, [Site(gbsg2.data, "alone")])


def test_duplicate_site_names_are_refused(gbsg2: Cohort) -> None:
    from jumeau.errors import JumeauError

    half = len(gbsg2) // 2
    sites = [Site(gbsg2.data.iloc[:half], "a"), Site(gbsg2.data.iloc[half:], "a")]
    with pytest.raises(JumeauError, match="two sites share a name"):
        run_locally(Coordinator(gbsg2.schema, "copula"), sites)


def test_unknown_model_and_bad_settings_fail_before_any_round(gbsg2: Cohort) -> None:
    from pydantic import ValidationError

    from jumeau.errors import JumeauError
    from jumeau.federated.config import FederatedConfig

    with pytest.raises(JumeauError, match="copula, vae, rhvae"):
        Coordinator(gbsg2.schema, "gan")
    with pytest.raises(JumeauError, match="invalid parameter"):
        Coordinator(gbsg2.schema, "vae", epochs=0)
    with pytest.raises(ValidationError):
        FederatedConfig(strategy="fedsgd")
    assert np.isfinite(FederatedConfig().server_learning_rate)
