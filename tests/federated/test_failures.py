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
    # the next round tells both sites the run stopped, and why; then nothing more is sent
    manager = _manager("1", "2")
    sent = strategy.configure_fit(2, None, manager)  # type: ignore[arg-type]
    assert [proxy.cid for proxy, _ in sent] == ["1", "2"]
    assert {_task(fit) for _, fit in sent} == {("stopped", _reason(strategy))}
    assert "b: DataError" in _reason(strategy)
    assert strategy.configure_fit(3, None, manager) == []  # type: ignore[arg-type]
    assert strategy.aggregate_fit(2, [], []) == (None, {})  # the end round's answers are ignored


def _manager(*cids: str) -> SimpleNamespace:
    """A Flower client manager with these clients connected."""
    clients = {cid: SimpleNamespace(cid=cid) for cid in cids}
    return SimpleNamespace(
        wait_for=lambda n, timeout: len(clients) >= n,
        all=lambda: clients,
        num_available=lambda: len(clients),
    )


def _task(fit) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    from flwr.common import parameters_to_ndarrays

    from jumeau.federated.messages import unpack

    _, meta = unpack(parameters_to_ndarrays(fit.parameters), str(fit.config["message"]))
    return str(fit.config["task"]), str(meta.get("reason", ""))


def _reason(strategy) -> str:  # type: ignore[no-untyped-def]
    return " ".join(str(strategy.error).split())


def test_a_complete_run_ends_with_a_finished_round_to_every_member(gbsg2: Cohort) -> None:
    from jumeau.federated.flower import JumeauStrategy

    coordinator = Coordinator(gbsg2.schema, "copula")
    strategy = JumeauStrategy(coordinator, sites=2)
    strategy.members = {"1", "2"}
    coordinator._current = None  # the protocol has run to its end
    sent = strategy.configure_fit(9, None, _manager("1", "2", "late"))  # type: ignore[arg-type]
    assert [proxy.cid for proxy, _ in sent] == ["1", "2"]  # not the late joiner
    assert {_task(fit) for _, fit in sent} == {("finished", "")}


def test_too_few_sites_in_time_tells_those_that_came(
    gbsg2: Cohort, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server says in its log how many sites have joined while it waits, gives up after its
    timeout with a reason that names what keeps a site out, and tells the sites that came."""
    from jumeau.federated import strategy as module

    monkeypatch.setattr(module, "WAIT_REPORT_SECONDS", 1.0)
    strategy = module.JumeauStrategy(Coordinator(gbsg2.schema, "copula"), sites=2, timeout=2.0)
    with caplog.at_level("WARNING", logger="jumeau.federated"):
        sent = strategy.configure_fit(1, None, _manager("1"))  # type: ignore[arg-type]
    assert "waiting for sites: 1 of 2 connected" in caplog.text
    assert [proxy.cid for proxy, _ in sent] == ["1"]
    task, reason = _task(sent[0][1])
    assert task == "stopped" and "only 1 of 2 sites connected within 2 s" in reason
    assert "--root-certificate" in reason


def test_a_site_told_the_run_stopped_exits_with_the_servers_reason(gbsg2: Cohort) -> None:
    from jumeau.federated.flower import JumeauClient, _completed_tasks

    client = JumeauClient(Site(gbsg2.data.iloc[:40], "hospital-y"))
    with pytest.raises(JumeauError, match="without saying the model was complete"):
        _completed_tasks(client, "hub:8080")  # Flower ended the run with no end round
    values, text = pack({}, {"reason": "round 3: 1 site(s) failed (b: DataError)"})
    answer = client.fit(values, {"task": "stopped", "round": 4, "message": text})
    assert answer == ([], 0, {"site": "hospital-y", "message": ""}) and client.tasks == []
    with pytest.raises(JumeauError, match=r"stopped the training: round 3: 1 site\(s\) failed"):
        _completed_tasks(client, "hub:8080")
    values, text = pack({}, {})
    client.fit(values, {"task": "finished", "round": 4, "message": text})
    assert _completed_tasks(client, "hub:8080") == []


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
    sent = strategy.configure_fit(3, None, _manager("1"))  # type: ignore[arg-type]
    assert [(proxy.cid, _task(fit)[0]) for proxy, fit in sent] == [("1", "stopped")]
    with pytest.raises(JumeauError, match="1 site\\(s\\) disconnected"):
        strategy.outcome()
    assert np.isfinite(strategy.timeout)
