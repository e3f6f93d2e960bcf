"""Only the consortium's sites may join: each signs the server's challenge with its own key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from jumeau.data.cohort import Cohort
from jumeau.errors import JumeauError
from jumeau.federated.auth import (
    SiteAuthError,
    generate_key,
    load_authorised,
    load_private_pem,
    read_private_key,
    sign,
    verify,
)
from jumeau.federated.coordinator import Coordinator
from jumeau.federated.local import run_locally
from jumeau.federated.site import Site


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    return {name: generate_key(name, tmp_path / "keys") for name in ("hospital-a", "hospital-b")}


def _authorised(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "authorised.txt"
    path.write_text("# the consortium's sites\n" + "\n".join(lines) + "\n")
    return path


def test_keygen_writes_a_private_key_for_its_owner_only(keys, tmp_path: Path) -> None:
    path, line = keys["hospital-a"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert line.startswith("hospital-a ed25519 ")
    with pytest.raises(JumeauError, match="exists"):
        generate_key("hospital-a", tmp_path / "keys")
    with pytest.raises(JumeauError, match="site name"):
        generate_key("../evil", tmp_path / "keys")


def test_signatures_verify_only_with_the_listed_key(keys, tmp_path: Path) -> None:
    listed = load_authorised(_authorised(tmp_path, [keys["hospital-a"][1]]))
    key_a = load_private_pem(read_private_key(keys["hospital-a"][0]))
    key_b = load_private_pem(read_private_key(keys["hospital-b"][0]))
    assert verify(listed, "c1", "hospital-a", sign(key_a, "c1", "hospital-a")) is None
    assert "does not match" in str(
        verify(listed, "c2", "hospital-a", sign(key_a, "c1", "hospital-a"))
    )
    assert "does not match" in str(
        verify(listed, "c1", "hospital-a", sign(key_b, "c1", "hospital-a"))
    )
    assert "not in the authorised" in str(
        verify(listed, "c1", "hospital-b", sign(key_b, "c1", "hospital-b"))
    )
    assert "no signature" in str(verify(listed, "c1", "hospital-a", None))


def test_a_malformed_authorised_file_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(JumeauError, match="line 2: expected"):
        load_authorised(_authorised(tmp_path, ["hospital-a ed25519 not-base64!"]))
    with pytest.raises(JumeauError, match="no site listed"):
        load_authorised(_authorised(tmp_path, []))


def _sites(gbsg2: Cohort, keys, with_keys: tuple[str, ...]) -> list[Site]:
    half = len(gbsg2) // 2
    frames = {"hospital-a": gbsg2.data.iloc[:half], "hospital-b": gbsg2.data.iloc[half:]}
    return [
        Site(frame, name, key=read_private_key(keys[name][0]) if name in with_keys else None)
        for name, frame in frames.items()
    ]


def test_listed_sites_with_their_keys_train(keys, tmp_path: Path, gbsg2: Cohort) -> None:
    listed = load_authorised(_authorised(tmp_path, [line for _, line in keys.values()]))
    coordinator = Coordinator(gbsg2.schema, "copula", em_iterations=1, authorised=listed)
    fit = run_locally(coordinator, _sites(gbsg2, keys, ("hospital-a", "hospital-b")))
    assert set(fit.sites) == {"hospital-a", "hospital-b"}


@pytest.mark.parametrize(
    ("listed", "holding", "why"),
    [
        (("hospital-a",), ("hospital-a", "hospital-b"), "hospital-b: not in the authorised"),
        (("hospital-a", "hospital-b"), ("hospital-a",), "hospital-b: sent no signature"),
    ],
)
def test_the_run_stops_before_any_data_is_shared(
    keys, tmp_path: Path, gbsg2: Cohort, listed, holding, why
) -> None:
    authorised = load_authorised(_authorised(tmp_path, [keys[name][1] for name in listed]))
    coordinator = Coordinator(gbsg2.schema, "copula", authorised=authorised)
    with pytest.raises(SiteAuthError, match=why):
        run_locally(coordinator, _sites(gbsg2, keys, holding))
    assert [t.task for t in coordinator.traffic] == ["check"]


def test_a_stolen_name_with_another_key_is_refused(keys, tmp_path: Path, gbsg2: Cohort) -> None:
    authorised = load_authorised(_authorised(tmp_path, [line for _, line in keys.values()]))
    sites = _sites(gbsg2, keys, ("hospital-a", "hospital-b"))
    sites[1].key = sites[0].key  # hospital-b's name, hospital-a's key
    with pytest.raises(SiteAuthError, match="hospital-b: signature does not match"):
        run_locally(Coordinator(gbsg2.schema, "copula", authorised=authorised), sites)
