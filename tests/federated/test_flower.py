"""The protocol on Flower: the simulation runtime (Ray, one machine) and the gRPC deployment
path with one server and two client processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jumeau.data.cohort import Cohort
from jumeau.federated.config import FederatedConfig
from jumeau.federated.coordinator import Coordinator
from jumeau.federated.local import run_locally
from jumeau.federated.messages import Reply
from jumeau.federated.site import Site

from .conftest import Inspector

pytest.importorskip("flwr")


def test_simulation_runtime_gives_the_in_process_model(
    gbsg2: Cohort, grade_sites: list[Site], no_patient_in: Inspector
) -> None:
    """Flower rebuilds every client each round, in other processes: the sites' Gibbs chains
    must persist in their node state for the EM to match the in-process run bit for bit."""
    from jumeau.federated.flower import simulate

    replies: list[Reply] = []
    settings = FederatedConfig(min_sites=3, sketch_epsilon=None)  # exact: both runs alike
    fit = simulate(grade_sites, gbsg2.schema, "copula", seed=3, settings=settings,
                   em_iterations=3, on_reply=replies.append)  # fmt: skip
    local = run_locally(
        Coordinator(gbsg2.schema, "copula", seed=3, settings=settings, em_iterations=3),
        grade_sites,
    )
    assert np.allclose(fit.generator.correlation_, local.generator.correlation_)
    assert fit.sites == {"tgrade=I": 81, "tgrade=II": 444, "tgrade=III": 161}
    assert len(fit.traffic) == 7
    no_patient_in(replies, grade_sites)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _certificates(folder: Path) -> None:
    """A throw-away CA and a server certificate for 127.0.0.1 (ca.crt, server.pem, server.key)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )

    def certificate(subject: str, key, issuer_key, ca: bool) -> x509.Certificate:  # type: ignore[no-untyped-def]
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name("jumeau test CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
        return builder.sign(issuer_key, hashes.SHA256())

    pem = serialization.Encoding.PEM
    ca = certificate("jumeau test CA", ca_key, ca_key, ca=True)
    server = certificate("127.0.0.1", server_key, ca_key, ca=False)
    folder.mkdir()
    (folder / "ca.crt").write_bytes(ca.public_bytes(pem))
    (folder / "server.pem").write_bytes(server.public_bytes(pem))
    (folder / "server.key").write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def test_server_and_two_client_processes_over_tls(tmp_path: Path, gbsg2: Cohort) -> None:
    """The deployment path end to end: `jumeau federated server` and two `jumeau federated
    client` processes talking gRPC over TLS on 127.0.0.1, each site proving who it is with its
    key; the model file and its record come back."""
    from jumeau.federated.auth import generate_key

    _certificates(tmp_path / "certs")
    keys = {name: generate_key(name, tmp_path / "keys") for name in ("pre", "post")}
    authorised = tmp_path / "authorised.txt"
    authorised.write_text("\n".join(line for _, line in keys.values()) + "\n")
    schema = tmp_path / "schema.yaml"
    gbsg2.schema.to_yaml(schema)
    menopause = gbsg2.data["menostat"]
    files = []
    for level in ("Pre", "Post"):
        path = tmp_path / f"{level.lower()}.csv"
        gbsg2.data[menopause == level].to_csv(path, index=False)
        files.append(path)
    address = f"127.0.0.1:{_free_port()}"
    command = [sys.executable, "-m", "jumeau.cli", "federated"]
    env = os.environ | {"COLUMNS": "200", "PYTHONWARNINGS": "ignore"}
    server = subprocess.Popen(
        [*command, "server", "--schema", str(schema), "-o", str(tmp_path / "model.jumeau"),
         "--address", address, "--min-sites", "2", "-p", "em_iterations=2", "--timeout", "90",
         "--certificates", str(tmp_path / "certs"), "--authorized-sites", str(authorised)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    clients = [
        subprocess.Popen(
            [
                *command,
                "client",
                "--server",
                address,
                "--data",
                str(path),
                "--root-certificate",
                str(tmp_path / "certs" / "ca.crt"),
                "--key",
                str(keys[path.stem][0]),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for path in files
    ]
    try:
        server_output, _ = server.communicate(timeout=180)
        client_outputs = [client.communicate(timeout=60)[0] for client in clients]
    finally:
        for process in (server, *clients):
            process.kill()
    assert server.returncode == 0, server_output
    assert "federated copula on 2 sites (686 patients" in server_output
    for client, output in zip(clients, client_outputs, strict=True):
        assert client.returncode == 0, output
        assert "training finished" in output and "not encrypted" not in output
    record = json.loads((tmp_path / "model.jumeau.federated.json").read_text())
    assert record["sites"] == {"pre": 290, "post": 396}
    # the default DP sketches: the unwritten ranges first, from the sites' summed histograms
    assert [r["task"] for r in record["traffic"]][:3] == ["check", "bounds", "sketch"]
    from jumeau.generators import load_generator

    assert load_generator(tmp_path / "model.jumeau").sample(50, seed=0).validate().ok


def test_when_one_site_fails_every_site_exits_non_zero_with_the_servers_reason(
    tmp_path: Path, gbsg2: Cohort
) -> None:
    """A consortium whose run failed must not tell its healthy sites "training finished" and exit
    0 (monitoring would not see it): the server's last round tells every site why it stopped;
    the failing site's value stays in its own log."""
    schema = tmp_path / "schema.yaml"
    gbsg2.schema.to_yaml(schema)
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    gbsg2.data.iloc[:300].to_csv(good, index=False)
    broken = gbsg2.data.iloc[300:].astype(object).copy()
    broken.iloc[0, broken.columns.get_loc("tsize")] = "secret-value-123"
    broken.to_csv(bad, index=False)
    address = f"127.0.0.1:{_free_port()}"
    command = [sys.executable, "-m", "jumeau.cli", "federated"]
    env = os.environ | {"COLUMNS": "200", "PYTHONWARNINGS": "ignore"}
    server = subprocess.Popen(
        [*command, "server", "--schema", str(schema), "-o", str(tmp_path / "model.jumeau"),
         "--address", address, "--min-sites", "2", "--timeout", "90"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    clients = [
        subprocess.Popen(
            [*command, "client", "--server", address, "--data", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for path in (good, bad)
    ]
    try:
        server_output, _ = server.communicate(timeout=180)
        good_output, bad_output = (client.communicate(timeout=60)[0] for client in clients)
    finally:
        for process in (server, *clients):
            process.kill()
    reason = "data do not match the schema — site bad: tsize: values that are not readable"
    assert server.returncode != 0 and reason in server_output
    assert clients[0].returncode != 0, good_output
    assert f"the server stopped the training: {reason}" in " ".join(good_output.split())
    assert "training finished" not in good_output
    assert clients[1].returncode != 0 and "training finished" not in bad_output
    assert "secret-value-123" not in server_output + good_output
    assert not (tmp_path / "model.jumeau").exists()


def test_a_site_that_cannot_reach_its_server_says_so_in_one_line(
    gbsg2: Cohort, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Knocks again a bounded number of times (a server not yet up), then one JumeauError
    naming the address and what to check — not a raw gRPC traceback."""
    from jumeau.errors import JumeauError
    from jumeau.federated import flower

    monkeypatch.setattr(flower, "CONNECT_WAITS", (0.01, 0.01))
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    site = Site(gbsg2.subset(np.arange(60)), "lonely")
    with pytest.raises(JumeauError, match=rf"cannot reach the server at 127.0.0.1:{port}") as info:
        flower.connect(site, f"127.0.0.1:{port}")
    assert "--root-certificate" in str(info.value) and "\n" not in str(info.value)
