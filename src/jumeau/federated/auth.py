"""Which hospitals may take part: each site signs the server's challenge with its own key.

TLS keeps the traffic private but says nothing about *who* connects: anyone who can reach the
server's port and holds the (public) CA certificate could join as a site — and from the sketch
round on, every instruction carries something learned from the other hospitals' patients (the
merged encoder, then the global weights). So, before anything but the schema is sent:

- each hospital makes a key pair once (`jumeau federated keygen`): it keeps the private key and
  gives the public key to the consortium, which lists it in the server's authorised-sites file;
- the server's first instruction carries a fresh random challenge; each site signs
  "challenge|site name" with its private key (Ed25519) and returns the signature;
- the server checks every signature against the listed key of that site name and stops the run —
  naming the site — if one is missing, unknown or wrong. The set of sites is then pinned: a client
  that connects later is never sent anything.

This is what Flower's SuperLink calls node authentication, done at jumeau's protocol level so that
it holds on every transport (simulation, gRPC).
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from jumeau.errors import JumeauError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]{0,63}$")


class SiteAuthError(JumeauError):
    """A site could not prove it is one of the consortium's authorised sites."""


def challenge_text(challenge: str, site: str) -> bytes:
    return f"jumeau-federated|{challenge}|{site}".encode()


def sign(private_key: Ed25519PrivateKey, challenge: str, site: str) -> str:
    return private_key.sign(challenge_text(challenge, site)).hex()


def verify(
    authorised: dict[str, Ed25519PublicKey], challenge: str, site: str, signature: str | None
) -> str | None:
    """None when `site` signed `challenge` with its listed key; otherwise why not."""
    if site not in authorised:
        return "not in the authorised-sites file"
    if not signature:
        return "sent no signature (start its client with --key)"
    try:
        authorised[site].verify(bytes.fromhex(signature), challenge_text(challenge, site))
    except (InvalidSignature, ValueError):
        return "signature does not match its listed key"
    return None


def generate_key(name: str, folder: Path) -> tuple[Path, str]:
    """Write `<folder>/<name>.key` (private, readable by its owner only) and return it with the
    line to add to the server's authorised-sites file."""
    check_name(name)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.key"
    if path.exists():
        raise JumeauError(f"{path} exists; a site's key is made once (delete it to replace it)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return path, public_line(name, key.public_key())


def public_line(name: str, key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{name} ed25519 {base64.b64encode(raw).decode()}"


def read_private_key(path: Path) -> bytes:
    """A site key file's PEM, checked (the Site keeps the PEM: it travels to simulation workers,
    which cannot carry a live key object)."""
    try:
        pem = Path(path).read_bytes()
    except OSError as error:
        raise JumeauError(f"{path}: cannot be read ({error.strerror})") from None
    load_private_pem(pem, origin=str(path))
    return pem


def load_private_pem(pem: bytes, origin: str = "site key") -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise JumeauError(f"{origin}: not a readable site key ({type(error).__name__})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise JumeauError(f"{origin}: not an Ed25519 key (make one with jumeau federated keygen)")
    return key


def load_authorised(path: Path) -> dict[str, Ed25519PublicKey]:
    """The authorised-sites file: one `name ed25519 <base64 public key>` per line (# comments)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise JumeauError(f"{path}: cannot be read ({error.strerror})") from None
    keys: dict[str, Ed25519PublicKey] = {}
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        try:
            name, kind, encoded = parts
            if kind != "ed25519":
                raise ValueError
            check_name(name)
            keys[name] = Ed25519PublicKey.from_public_bytes(base64.b64decode(encoded))
        except (ValueError, JumeauError):
            raise JumeauError(
                f"{path}, line {number}: expected `<site name> ed25519 <public key>` "
                "(the line jumeau federated keygen prints)"
            ) from None
    if not keys:
        raise JumeauError(f"{path}: no site listed")
    return keys


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise JumeauError(
            f"site name {name!r}: use letters, digits and . _ = - (at most 64 characters)"
        )
    return name
