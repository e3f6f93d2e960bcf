"""Real image cohorts bundled with jumeau: nothing is downloaded.

- breastmnist: 780 breast ultrasound images, 28 × 28 grey levels, malignant vs benign, with the
  official MedMNIST v2 train/val/test splits (Yang et al., Scientific Data 2023; derived from
  Al-Dhabyani et al., Data in Brief 2020; CC BY 4.0 — see images/data/README.md).

The file's sha256 is written in images/data/README.md and checked at every load, so a corrupted or
edited copy is refused rather than silently used.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import re
from importlib import resources

import numpy as np

from jumeau.data.datasets import DatasetInfo
from jumeau.errors import DataError
from jumeau.images.cohort import ImageCohort

SPLITS = ("train", "val", "test")
BREASTMNIST_FILE = "breastmnist.npz"
BREASTMNIST_LABELS = {0: "malignant", 1: "benign"}  # MedMNIST v2's coding ("normal" is benign)

_INFO = {
    "breastmnist": DatasetInfo(
        "breastmnist",
        780,
        "breast ultrasound 28×28, malignant vs benign; train/val/test 546/78/156",
        "bundled (MedMNIST v2, CC BY 4.0)",
        "label",
    ),
}


def list_image_datasets() -> list[DatasetInfo]:
    """The bundled image datasets (`rows` is the number of images over all splits)."""
    return list(_INFO.values())


def load_image_dataset(name: str) -> dict[str, ImageCohort]:
    """A bundled image dataset by name, as {"train", "val", "test"} cohorts."""
    if name not in _INFO:
        close = difflib.get_close_matches(name, list(_INFO), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise DataError(f"unknown image dataset '{name}'; available: {', '.join(_INFO)}{hint}")
    return load_breastmnist()


def load_breastmnist() -> dict[str, ImageCohort]:
    """BreastMNIST's official splits: {"train": 546, "val": 78, "test": 156 images}.

    Labels are the words "malignant" / "benign"; ids are "<split>-<row>" with the 0-based row of
    the image in its split, zero-padded ("train-0000" … "train-0545"); images are the 8-bit grey
    levels divided by 255; pixel spacing is unknown (1.0).
    """
    raw = _data_bytes(BREASTMNIST_FILE)
    expected = _expected_sha256(BREASTMNIST_FILE)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != expected:
        raise DataError(
            f"jumeau:breastmnist: the bundled {BREASTMNIST_FILE} has sha256 {digest[:16]}…, "
            f"not {expected[:16]}… as images/data/README.md says; reinstall jumeau"
        )
    cohorts: dict[str, ImageCohort] = {}
    with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
        for split in SPLITS:
            source = f"jumeau:breastmnist:{split}"
            codes = np.asarray(arrays[f"{split}_labels"]).reshape(-1)
            unknown = sorted(set(codes.tolist()) - set(BREASTMNIST_LABELS))
            if unknown:
                raise DataError(f"{source}: unexpected label code(s) {unknown}")
            labels = np.array([BREASTMNIST_LABELS[int(c)] for c in codes], dtype=object)
            ids = np.array([f"{split}-{i:04d}" for i in range(len(codes))], dtype=object)
            cohorts[split] = ImageCohort.from_uint8(
                np.asarray(arrays[f"{split}_images"]), labels, ids=ids, source=source
            )
    return cohorts


def _data_bytes(name: str) -> bytes:
    return resources.files("jumeau.images").joinpath("data").joinpath(name).read_bytes()


def _expected_sha256(name: str) -> str:
    """The checksum written under the file's heading in images/data/README.md."""
    readme = _data_bytes("README.md").decode("utf-8")
    match = re.search(rf"{re.escape(name)}.*?sha256\W+([0-9a-f]{{64}})", readme, re.DOTALL)
    if match is None:
        raise DataError(f"images/data/README.md gives no sha256 for {name}; reinstall jumeau")
    return match.group(1)
