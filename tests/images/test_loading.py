"""Users' image folders and the bundled BreastMNIST: every problem is one clear DataError."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jumeau.errors import DataError
from jumeau.images import datasets
from jumeau.images.datasets import list_image_datasets, load_breastmnist, load_image_dataset
from jumeau.images.loading import load_image_folder

PATIENT_NAME = "Doe^Jane"
PATIENT_ID = "PID-SECRET-4711"


# --------------------------------------------------------------------------- helpers
def _png(folder: Path, name: str, pixels: np.ndarray) -> Path:
    path = folder / name
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path)
    return path


def _labels(folder: Path, rows: dict[str, str], header: str = "id,label") -> Path:
    path = folder / "labels.csv"
    path.write_text(header + "\n" + "".join(f"{i},{v}\n" for i, v in rows.items()))
    return path


def _nifti(path: Path, data: np.ndarray, zooms: tuple[float, ...]) -> Path:
    nibabel = pytest.importorskip("nibabel")
    affine = np.diag([*zooms, 1.0])
    nibabel.save(nibabel.Nifti1Image(np.asarray(data, dtype=np.float32), affine), str(path))
    return path


def _dicom(path: Path, pixels: np.ndarray, spacing: tuple[float, float] = (0.5, 0.5)) -> Path:
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # secondary capture
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = meta.MediaStorageSOPClassUID
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.PatientName = PATIENT_NAME
    dataset.PatientID = PATIENT_ID
    dataset.Modality = "OT"
    dataset.Rows, dataset.Columns = pixels.shape
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.BitsAllocated = dataset.BitsStored = 16
    dataset.HighBit = 15
    dataset.PixelRepresentation = 0
    dataset.PixelSpacing = [str(s) for s in spacing]
    dataset.PixelData = np.asarray(pixels, dtype="<u2").tobytes()
    try:
        pydicom.dcmwrite(str(path), dataset, enforce_file_format=True)
    except TypeError:  # pydicom < 3
        dataset.is_little_endian, dataset.is_implicit_VR = True, False
        dataset.save_as(str(path), write_like_original=False)
    return path


@pytest.fixture
def pngs(tmp_path: Path) -> Path:
    """Four 6×5 PNGs, two per class, with grey levels 10…210 over the cohort."""
    folder = tmp_path / "images"
    folder.mkdir()
    for k in range(4):
        _png(folder, f"p{k}.png", np.full((6, 5), 10 + 50 * k))
    return folder


# --------------------------------------------------------------------------- reading folders
def test_png_folder_rescaled_over_the_cohort_not_per_image(pngs, tmp_path):
    csv = _labels(tmp_path, {"p0": "a", "p1": "b", "p2": "a", "p3": "b"})
    cohort = load_image_folder(pngs, csv)
    assert cohort.images.shape == (4, 6, 5) and cohort.images.dtype == np.float32
    assert cohort.ids.tolist() == ["p0", "p1", "p2", "p3"]
    assert cohort.labels.tolist() == ["a", "b", "a", "b"]
    assert cohort.spacing == (1.0, 1.0)
    # each image is uniform: per-image rescaling would make them all 0; cohort-wide keeps contrast
    np.testing.assert_allclose(cohort.images[:, 0, 0], [0, 1 / 3, 2 / 3, 1], atol=1e-6)


def test_colour_png_becomes_grey_and_16_bit_png_keeps_its_levels(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    colour = np.zeros((4, 4, 3), dtype=np.uint8)
    colour[..., 0] = 255  # pure red -> Pillow's L: 76
    Image.fromarray(colour).save(folder / "red.png")
    _png(folder, "black.png", np.zeros((4, 4)))
    _png(folder, "white.png", np.full((4, 4), 255))
    csv = _labels(tmp_path, {"red": "x", "black": "x", "white": "y"})
    cohort = load_image_folder(folder, csv)
    red = cohort.images[cohort.ids.tolist().index("red")]
    np.testing.assert_allclose(red, 76 / 255, atol=1e-6)

    deep = tmp_path / "deep"
    deep.mkdir()
    for name, value in (("low", 1000), ("high", 3000), ("zero", 0)):
        Image.fromarray(np.full((3, 3), value, dtype=np.uint16)).save(deep / f"{name}.png")
    cohort = load_image_folder(deep, _labels(tmp_path, {"low": "x", "high": "y", "zero": "x"}))
    low = cohort.images[cohort.ids.tolist().index("low")]
    np.testing.assert_allclose(low, 1 / 3, atol=1e-6)  # not clipped to 8 bits


def test_jpeg_ids_with_extensions_and_custom_columns(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for k in range(2):
        Image.fromarray(np.full((5, 5), 40 + 100 * k, dtype=np.uint8)).save(folder / f"j{k}.JPG")
    (folder / "notes.txt").write_text("ignored")
    csv = _labels(tmp_path, {"j0.JPG": "benign", "j1": "malignant"}, header="file,diagnosis")
    cohort = load_image_folder(folder, csv, id_column="file", label_column="diagnosis")
    assert cohort.ids.tolist() == ["j0", "j1"]
    assert cohort.labels.tolist() == ["benign", "malignant"]
    with pytest.raises(DataError, match=r"no column 'id'.*id_column="):
        load_image_folder(folder, csv)


def test_resize_to_one_size(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    _png(folder, "small.png", np.tile(np.arange(8) * 30, (8, 1)))
    _png(folder, "big.png", np.tile(np.arange(16) * 15, (12, 1)))
    csv = _labels(tmp_path, {"small": "a", "big": "b"})
    cohort = load_image_folder(folder, csv, size=(10, 10))
    assert cohort.images.shape == (2, 10, 10)
    assert cohort.images.min() == 0.0 and cohort.images.max() == pytest.approx(1.0)
    assert cohort.spacing == (1.0, 1.0)  # PNG spacing is unknown: it stays 1.0
    with pytest.raises(DataError, match=r"images are 2D but size=\(4, 4, 4\)"):
        load_image_folder(folder, csv, size=(4, 4, 4))
    with pytest.raises(DataError, match="positive integers"):
        load_image_folder(folder, csv, size=(0, 4))


# --------------------------------------------------------------------------- errors
def test_labels_without_images_name_five_and_count(pngs, tmp_path):
    rows = {f"p{k}": "a" for k in range(4)} | {f"gone{k}": "a" for k in range(7)}
    (pngs / "gone0.tif").write_bytes(b"not supported")
    with pytest.raises(DataError) as caught:
        load_image_folder(pngs, _labels(tmp_path, rows))
    message = str(caught.value)
    assert "7 labelled id(s) have no image" in message and "(2 more)" in message
    assert "gone0" in message and "gone6" not in message and "\n" not in message
    assert "gone0.tif not read: supported formats" in message


def test_images_without_labels(pngs, tmp_path):
    with pytest.raises(DataError, match=r"2 image\(s\) have no label in labels\.csv: p2, p3"):
        load_image_folder(pngs, _labels(tmp_path, {"p0": "a", "p1": "b"}))


def test_unreadable_files_are_named(pngs, tmp_path):
    (pngs / "broken.png").write_bytes(b"\x89PNG but not really")
    rows = {f"p{k}": "a" for k in range(4)} | {"broken": "b"}
    with pytest.raises(DataError, match=r"cannot read 1 image file\(s\): broken\.png \("):
        load_image_folder(pngs, _labels(tmp_path, rows))


def test_mixed_sizes_say_which_and_offer_size(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for k in range(3):
        _png(folder, f"s{k}.png", np.full((28, 28), k))
    _png(folder, "odd.png", np.full((32, 30), 9))
    csv = _labels(tmp_path, {"s0": "a", "s1": "a", "s2": "b", "odd": "b"})
    with pytest.raises(DataError) as caught:
        load_image_folder(folder, csv)
    message = str(caught.value)
    assert "2 different sizes" in message and "28×28 (3: s0, s1, s2)" in message
    assert "32×30 (1: odd)" in message and "size=(H, W)" in message


def test_empty_folder_and_other_files(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    csv = _labels(tmp_path, {"a": "x"})
    with pytest.raises(DataError, match="no image file"):
        load_image_folder(folder, csv)
    (folder / "scan.tif").write_bytes(b"")
    with pytest.raises(DataError, match=r"no image file .*other file\(s\): scan\.tif"):
        load_image_folder(folder, csv)
    with pytest.raises(DataError, match="not a folder"):
        load_image_folder(tmp_path / "nowhere", csv)


def test_labels_csv_problems(pngs, tmp_path):
    with pytest.raises(DataError, match="labels CSV not found"):
        load_image_folder(pngs, tmp_path / "missing.csv")
    twice = tmp_path / "twice.csv"
    twice.write_text("id,label\np0,a\np0,b\np1,a\np2,a\np3,a\n")
    with pytest.raises(DataError, match=r"1 id\(s\) labelled twice: p0"):
        load_image_folder(pngs, twice)
    blank = tmp_path / "blank.csv"
    blank.write_text("id,label\np0,a\np1,\np2,a\np3,a\n")
    with pytest.raises(DataError, match=r"1 id\(s\) without a label: p1"):
        load_image_folder(pngs, blank)


def test_two_files_with_one_id(pngs, tmp_path):
    Image.fromarray(np.zeros((6, 5), dtype=np.uint8)).save(pngs / "p0.jpg")
    with pytest.raises(DataError, match="two files for image id 'p0'"):
        load_image_folder(pngs, _labels(tmp_path, {f"p{k}": "a" for k in range(4)}))


def test_constant_cohort_is_refused(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    _png(folder, "a.png", np.full((3, 3), 7))
    _png(folder, "b.png", np.full((3, 3), 7))
    with pytest.raises(DataError, match="every pixel of every image has the value 7"):
        load_image_folder(folder, _labels(tmp_path, {"a": "x", "b": "y"}))


# --------------------------------------------------------------------------- NIfTI
def test_nifti_volumes_axes_spacing_and_gz_ids(tmp_path):
    folder = tmp_path / "volumes"
    folder.mkdir()
    x, y, z = 6, 5, 4
    ramp = np.arange(x * y * z, dtype=np.float32).reshape(x, y, z)
    _nifti(folder / "v0.nii.gz", ramp, (0.5, 0.8, 2.0))
    _nifti(folder / "v1.nii", ramp * 2, (0.5, 0.8, 2.0))
    cohort = load_image_folder(folder, _labels(tmp_path, {"v0": "a", "v1": "b"}))
    assert cohort.ids.tolist() == ["v0", "v1"]
    assert cohort.images.shape == (2, z, y, x)  # (n, D, H, W)
    assert cohort.spacing == pytest.approx((2.0, 0.8, 0.5))
    top = float(ramp.max() * 2)
    np.testing.assert_allclose(cohort.images[0], ramp.transpose(2, 1, 0) / top, atol=1e-6)

    resized = load_image_folder(folder, _labels(tmp_path, {"v0": "a", "v1": "b"}), size=(8, 5, 3))
    assert resized.images.shape == (2, 8, 5, 3)
    assert resized.spacing == pytest.approx((1.0, 0.8, 1.0))  # the field of view is kept


def test_spacing_mismatch_suggests_resampling(tmp_path):
    folder = tmp_path / "volumes"
    folder.mkdir()
    volume = np.random.default_rng(0).random((4, 4, 3))
    _nifti(folder / "fine.nii", volume, (1.0, 1.0, 1.0))
    _nifti(folder / "coarse.nii", volume, (1.0, 1.0, 3.0))
    with pytest.raises(DataError, match=r"do not share one pixel spacing.*resample them"):
        load_image_folder(folder, _labels(tmp_path, {"fine": "a", "coarse": "b"}))


def test_mixed_2d_and_3d(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    _png(folder, "flat.png", np.zeros((4, 4)))
    _nifti(folder / "deep.nii", np.ones((4, 4, 3)), (1.0, 1.0, 1.0))
    with pytest.raises(DataError, match=r"mixed 2D and 3D images: 1 2D \(flat\) and 1 3D \(deep\)"):
        load_image_folder(folder, _labels(tmp_path, {"flat": "a", "deep": "b"}))


# --------------------------------------------------------------------------- DICOM
def test_dicom_spacing_and_no_header_identifier_reaches_the_cohort(tmp_path):
    folder = tmp_path / "dicom"
    folder.mkdir()
    _dicom(folder / "img01.dcm", np.arange(12).reshape(3, 4) * 100, spacing=(0.5, 0.25))
    _dicom(folder / "img02.dcm", np.full((3, 4), 600), spacing=(0.5, 0.25))
    assert PATIENT_ID.encode() in (folder / "img01.dcm").read_bytes()  # the header has it
    cohort = load_image_folder(folder, _labels(tmp_path, {"img01": "a", "img02": "b"}))
    assert cohort.spacing == (0.5, 0.25)
    np.testing.assert_allclose(cohort.images[0].ravel(), np.arange(12) * 100 / 1100, atol=1e-6)
    outputs = [*cohort.ids.tolist(), *cohort.labels.tolist(), cohort.source, repr(cohort)]
    outputs += [str(s) for s in cohort.spacing]
    for secret in (PATIENT_ID, "Doe", "Jane", "4711"):
        assert not any(secret in text for text in outputs), secret
    assert cohort.images.dtype == np.float32  # pixels only: no room for text


def test_missing_extra_says_how_to_install(tmp_path, monkeypatch):
    folder = tmp_path / "dicom"
    folder.mkdir()
    (folder / "img01.dcm").write_bytes(b"whatever")
    monkeypatch.setitem(sys.modules, "pydicom", None)  # import pydicom -> ImportError
    with pytest.raises(DataError, match=r"needs pydicom.*pip install 'jumeau\[images\]'"):
        load_image_folder(folder, _labels(tmp_path, {"img01": "a"}))
    monkeypatch.setitem(sys.modules, "nibabel", None)
    (folder / "img01.dcm").rename(folder / "img01.nii")
    with pytest.raises(DataError, match=r"needs nibabel.*pip install 'jumeau\[images\]'"):
        load_image_folder(folder, _labels(tmp_path, {"img01": "a"}))


def test_unreadable_dicom_is_named(tmp_path):
    pytest.importorskip("pydicom")
    folder = tmp_path / "dicom"
    folder.mkdir()
    (folder / "junk.dcm").write_bytes(b"no dicom here")
    with pytest.raises(DataError, match=r"cannot read 1 image file\(s\): junk\.dcm"):
        load_image_folder(folder, _labels(tmp_path, {"junk": "a"}))


# --------------------------------------------------------------------------- BreastMNIST
def test_breastmnist_splits_and_classes():
    splits = load_breastmnist()
    assert {name: len(cohort) for name, cohort in splits.items()} == {
        "train": 546,
        "val": 78,
        "test": 156,
    }
    train = splits["train"]
    assert train.classes == ["benign", "malignant"]
    assert (train.labels == "malignant").sum() == 147 and (train.labels == "benign").sum() == 399
    assert train.shape == (28, 28) and train.ids[1] == "train-0001"
    assert train.source == "jumeau:breastmnist:train"
    for cohort in splits.values():
        assert cohort.images.min() >= 0.0 and cohort.images.max() <= 1.0
        cohort.require_trainable()
    assert [info.name for info in list_image_datasets()] == ["breastmnist"]
    assert len(load_image_dataset("breastmnist")["val"]) == 78
    with pytest.raises(DataError, match="did you mean 'breastmnist'"):
        load_image_dataset("breastmnit")


def test_breastmnist_checksum_is_verified(monkeypatch):
    original = datasets._data_bytes

    def tampered(name: str) -> bytes:
        raw = original(name)
        return raw + b"\0" if name.endswith(".npz") else raw

    monkeypatch.setattr(datasets, "_data_bytes", tampered)
    with pytest.raises(DataError, match="sha256"):
        load_breastmnist()
