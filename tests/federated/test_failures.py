"""When a site fails: the server stops with the site's name and the error's type only (a message
might quote a patient's value), and the site keeps the details in its own log."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.federated.coordinator import Coordinator
from jumeau.federated.messages import pack
from jumeau.federated.site import Site

pytest.importorskip("flwr")


def _fit_result(metrics: dict, values: list | None = None):  # type: ignore[no-untyped-def]
    from flwr.common import Code, FitRes, Status, ndarrays_to_parameters

    return FitRes(Status(Code.OK, ""), ndarrays_to_parameters(values or []), 0, metrics)


def test_a_failing_site_stops_the_run_by_name_and_error_type(gbsg2: Cohort) -> None:
    from jumeau.federated.flower import JumeauStrategy

    strategy = JumeauStrategy(Coordinator(gbsg2.schema, "copula"), sites=2)
    values, text = pack({}, {"problems": []})
    results = [
        (SimpleNamespace(cid="1"), _fit_result({"site": "a", "message": text}, values)),
        (SimpleNamespace(cid="2"), _fit_result({"site": "b", "error": "DataError", "message": ""})),
    ]
    assert strategy.aggregate_fit(1, results, []) == (None, {})
    with pytest.raises(JumeauError, match=r"1 site\(s\) failed \(b: DataError; details are in"):
        strategy.outcome()
    assert strategy.configure_fit(2, None, None) == []  # nothing more is sent  # type: ignore[arg-type]


def test_the_client_reports_the_type_of_its_error_never_the_message(
    gbsg2: Cohort, caplog: pytest.LogCaptureFixture
) -> None:
    from jumeau.federated.context import schema_meta
    from jumeau.federated.flower import JumeauClient

    frame = gbsg2.data.astype(object).copy()
    frame.loc[0, "tsize"] = "secret-value-123"  # the sketch round types the table: it fails
    client = JumeauClient(Site(frame, "hospital-x"))
    values, text = pack({}, schema_meta(gbsg2.schema))
    returned, n, metrics = client.fit(values, {"task": "sketch", "round": 1, "message": text})
    assert returned == [] and n == 0
    assert metrics["site"] == "hospital-x" and metrics["error"] == "DataError"
    assert "secret-value-123" not in str(metrics)
    assert "secret-value-123" in caplog.text  # the site's own log has the details


def test_a_site_that_disconnects_mid_training_stops_the_run(gbsg2: Cohort) -> None:
    from jumeau.federated.flower import JumeauStrategy

    strategy = JumeauStrategy(Coordinator(gbsg2.schema, "copula"), sites=2)
    strategy.members = {"1", "2"}  # pinned after the first round
    manager = SimpleNamespace(
        wait_for=lambda n, timeout: True, all=lambda: {"1": SimpleNamespace(cid="1")}
    )
    assert strategy.configure_fit(3, None, manager) == []  # type: ignore[arg-type]
    with pytest.raises(JumeauError, match="1 site\\(s\\) disconnected"):
        strategy.outcome()
    assert np.isfinite(strategy.timeout)
