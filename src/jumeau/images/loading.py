"""Users' own images: a folder of image files and a CSV of labels -> an `ImageCohort`.

Formats: PNG / JPEG (Pillow), DICOM ``.dcm`` (pydicom) and NIfTI ``.nii`` / ``.nii.gz`` (nibabel).
pydicom and nibabel are an optional extra: ``pip install 'jumeau[images]'``.

Privacy: from a DICOM file only the pixel data and the pixel spacing are read into the cohort.
Image ids come from file names, never from DICOM headers, so a patient's name or ID written in a
header cannot reach an `ImageCohort` or anything made from it.
"""

from __future__ import annotations

import importlib
import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from jumeau.errors import DataError
from jumeau.images.cohort import ImageCohort

PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg")
DICOM_SUFFIXES = (".dcm",)
NIFTI_SUFFIXES = (".nii.gz", ".nii")  # longest first: "scan.nii.gz" has id "scan"
IMAGE_SUFFIXES = PILLOW_SUFFIXES + DICOM_SUFFIXES + NIFTI_SUFFIXES
INSTALL_HINT = "pip install 'jumeau[images]'"
SHOWN = 5  # names shown in an error before "… (n more)"
_GREY = np.array([0.299, 0.587, 0.114])  # ITU-R 601 luma, the weights of Pillow's "L"


@dataclass
class _Image:
    path: Path
    pixels: np.ndarray  # float64, (H, W) or (D, H, W)
    spacing: tuple[float, ...]  # one value per axis of `pixels`
    spacing_known: bool  # False for PNG/JPEG and DICOM without PixelSpacing (then 1.0)


def load_image_folder(
    folder: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str],
    *,
    id_column: str = "id",
    label_column: str = "label",
    size: Sequence[int] | None = None,
) -> ImageCohort:
    """Read every image of `folder` and its label from `labels_csv` into an `ImageCohort`.

    - Files: ``.png``, ``.jpg``/``.jpeg``, ``.dcm`` (one single-file DICOM image each; a DICOM
      series split over a folder of slices is not supported — convert it to NIfTI first) and
      ``.nii``/``.nii.gz`` (a 2D or 3D volume each; a 4D time series is refused). Sub-folders,
      hidden files and other files are ignored.
    - Ids: the file name without its image extension(s) (``scan_01.nii.gz`` -> ``scan_01``). The
      CSV's `id_column` gives these ids (a file name with its extension is accepted too) and its
      `label_column` the class of each image. Every image needs a label and every label an image.
    - Intensities: converted to floats and rescaled to [0, 1] with the minimum and maximum over
      the whole cohort, not image by image: per-image rescaling would erase real contrast
      differences between patients. DICOM RescaleSlope/RescaleIntercept are applied first and
      MONOCHROME1 images inverted; colour images become grey (Pillow's "L" weights); 16-bit PNGs
      keep their 16 bits.
    - Spacing: DICOM PixelSpacing (and SpacingBetweenSlices or SliceThickness for a multi-frame
      file), NIfTI header zooms, 1.0 (unknown) for PNG/JPEG. All images must share one spacing.
    - 3D: NIfTI volumes are reoriented to the closest canonical (RAS+) orientation with nibabel
      and stored as (D, H, W) = (z, y, x); a cohort is all 2D, shape (n, H, W), or all 3D, shape
      (n, D, H, W).
    - Size: all images must have one size, unless `size` — (H, W) for 2D, (D, H, W) for 3D —
      asks to resize them (bilinear: Pillow in 2D, ``scipy.ndimage.zoom`` of order 1 in 3D); the
      known spacing is scaled with the resize, and must still be shared afterwards.

    Every problem (missing labels, unlabelled images, unreadable files, mixed sizes, spacings or
    dimensions, an empty folder) is a one-line `DataError` that names the files.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder (expected a folder of image files)")
    files, others = _image_files(root)
    if not files:
        suffixes = ", ".join(IMAGE_SUFFIXES)
        found = f"; found {len(others)} other file(s): {_some(others)}" if others else ""
        raise DataError(
            f"{root}: no image file ({suffixes}) in this folder{found} "
            "(one file per image; sub-folders are not read)"
        )
    labels = _read_labels(Path(labels_csv), id_column, label_column)
    _match(root, Path(labels_csv), files, labels, others)
    target = _target_size(size)

    readers = _readers(files.values())
    images: dict[str, _Image] = {}
    failures: list[str] = []
    for image_id in sorted(files):
        path = files[image_id]
        try:
            images[image_id] = readers[_suffix(path.name) or ""](path)
        except Exception as error:  # an unreadable file of any kind becomes a DataError below
            failures.append(f"{path.name} ({_reason(error).replace(str(path), path.name)})")
    if failures:
        raise DataError(f"{root}: cannot read {len(failures)} image file(s): {_some(failures)}")

    ndims = Counter(image.pixels.ndim for image in images.values())
    if len(ndims) > 1:
        flat = [i for i, image in images.items() if image.pixels.ndim == 2]
        deep = [i for i, image in images.items() if image.pixels.ndim == 3]
        raise DataError(
            f"{root}: mixed 2D and 3D images: {len(flat)} 2D ({_some(flat)}) and {len(deep)} 3D "
            f"({_some(deep)}); load them as two cohorts"
        )
    ndim = next(iter(ndims))
    if target is None:
        _check_sizes(root, images, ndim)
    else:
        if len(target) != ndim:
            raise DataError(
                f"{root}: the images are {ndim}D but size={tuple(target)} has {len(target)} "
                f"values; give size={'(H, W)' if ndim == 2 else '(D, H, W)'}"
            )
        images = {i: _resize(image, target) for i, image in images.items()}
    spacing = _common_spacing(root, images)

    bad = [i for i, image in images.items() if not np.isfinite(image.pixels).all()]
    if bad:
        raise DataError(f"{root}: {len(bad)} image(s) contain NaN or infinite values: {_some(bad)}")
    ids = list(images)
    stack = np.stack([images[i].pixels for i in ids])
    low, high = float(stack.min()), float(stack.max())
    if high <= low:
        raise DataError(f"{root}: every pixel of every image has the value {low}; nothing to learn")
    scaled = np.clip((stack - low) / (high - low), 0.0, 1.0).astype(np.float32)
    return ImageCohort(
        scaled,
        np.array([labels[i] for i in ids], dtype=object),
        np.array(ids, dtype=object),
        spacing,
        source=str(root),
    )


# --------------------------------------------------------------------------- files and labels
def _suffix(name: str) -> str | None:
    lower = name.lower()
    return next((s for s in IMAGE_SUFFIXES if lower.endswith(s) and len(name) > len(s)), None)


def _strip_suffix(name: str) -> str:
    suffix = _suffix(name)
    return name[: -len(suffix)] if suffix else name


def _image_files(root: Path) -> tuple[dict[str, Path], list[str]]:
    """{id: path} of the image files, and the names of the other files."""
    files: dict[str, Path] = {}
    others: list[str] = []
    for path in sorted(root.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if _suffix(path.name) is None:
            others.append(path.name)
            continue
        image_id = _strip_suffix(path.name)
        if image_id in files:
            raise DataError(
                f"{root}: two files for image id '{image_id}': {files[image_id].name} and "
                f"{path.name}; keep one"
            )
        files[image_id] = path
    return files, others


def _read_labels(path: Path, id_column: str, label_column: str) -> dict[str, str]:
    if not path.is_file():
        raise DataError(f"{path}: labels CSV not found")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (ValueError, UnicodeDecodeError) as error:  # pandas' parser errors are ValueErrors
        raise DataError(f"{path}: cannot read the labels CSV ({_reason(error)})") from None
    columns = [str(c) for c in frame.columns]
    missing = [c for c in (id_column, label_column) if c not in columns]
    if missing:
        raise DataError(
            f"{path}: no column {', '.join(repr(c) for c in missing)} (columns: {columns}); "
            "name them with id_column= and label_column="
        )
    ids = [_strip_suffix(str(v).strip()) for v in frame[id_column]]
    values = [str(v).strip() for v in frame[label_column]]
    if "" in ids:
        rows = [str(row + 2) for row, i in enumerate(ids) if not i]  # +2: header, 1-based lines
        raise DataError(
            f"{path}: {len(rows)} row(s) without an id in '{id_column}': line(s) {_some(rows)}"
        )
    repeated = sorted(i for i, n in Counter(ids).items() if n > 1)
    if repeated:
        raise DataError(f"{path}: {len(repeated)} id(s) labelled twice: {_some(repeated)}")
    blank = [i for i, v in zip(ids, values, strict=True) if not v]
    if blank:
        raise DataError(f"{path}: {len(blank)} id(s) without a label: {_some(blank)}")
    return dict(zip(ids, values, strict=True))


def _match(
    root: Path, csv: Path, files: dict[str, Path], labels: dict[str, str], others: list[str]
) -> None:
    unlabelled = sorted(set(files) - set(labels))
    if unlabelled:
        raise DataError(
            f"{root}: {len(unlabelled)} image(s) have no label in {csv.name}: "
            f"{_some(unlabelled)}; add them to the CSV or move them out of the folder"
        )
    missing = [i for i in labels if i not in files]
    if missing:
        stems = {_stem(name): name for name in others}
        unsupported = [stems[i] for i in missing if i in stems]
        hint = (
            f"; {_some(unsupported)} not read: supported formats are {', '.join(IMAGE_SUFFIXES)}"
            if unsupported
            else ""
        )
        raise DataError(
            f"{csv}: {len(missing)} labelled id(s) have no image in {root}: {_some(missing)}{hint}"
        )


def _stem(name: str) -> str:
    return name.split(".", 1)[0] if "." in name[1:] else name


# --------------------------------------------------------------------------- readers
def _readers(paths: Iterable[Path]) -> dict[str, Any]:
    """A reader per suffix present; a clear error when DICOM or NIfTI support is not installed."""
    present = {_suffix(p.name) for p in paths}
    readers: dict[str, Any] = {s: _read_pillow for s in PILLOW_SUFFIXES}
    if present & set(DICOM_SUFFIXES):
        pydicom = _optional("pydicom", "DICOM")
        readers[".dcm"] = lambda path: _read_dicom(path, pydicom)
    if present & set(NIFTI_SUFFIXES):
        nibabel = _optional("nibabel", "NIfTI")
        for suffix in NIFTI_SUFFIXES:
            readers[suffix] = lambda path: _read_nifti(path, nibabel)
    return readers


def _optional(module: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DataError(
            f"reading {what} files needs {module}, an optional extra: {INSTALL_HINT}"
        ) from None


def _read_pillow(path: Path) -> _Image:
    from PIL import Image

    with Image.open(path) as image:
        if image.mode in ("I", "F") or image.mode.startswith("I;16"):
            pixels = np.asarray(image, dtype=np.float64)  # 16/32-bit grey: keep every level
        else:
            pixels = np.asarray(image.convert("L"), dtype=np.float64)
    return _Image(path, pixels, (1.0, 1.0), False)


def _read_dicom(path: Path, pydicom: ModuleType) -> _Image:
    """Pixel data and spacing only: no other header element is read into the cohort."""
    dataset = pydicom.dcmread(str(path))
    pixels = np.asarray(dataset.pixel_array, dtype=np.float64)
    if int(dataset.get("SamplesPerPixel", 1) or 1) > 1:  # colour (e.g. ultrasound) -> grey
        pixels = pixels[..., :3] @ _GREY
    if str(dataset.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        bits = int(dataset.get("BitsStored", 16) or 16)
        signed = int(dataset.get("PixelRepresentation", 0) or 0) == 1
        pixels = (-1.0 - pixels) if signed else (2.0**bits - 1.0) - pixels  # low values are white
    slope = float(dataset.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(dataset.get("RescaleIntercept", 0.0) or 0.0)
    pixels = pixels * slope + intercept
    if pixels.ndim not in (2, 3):
        raise ValueError(f"pixel data of shape {pixels.shape}")
    in_plane = dataset.get("PixelSpacing") or dataset.get("ImagerPixelSpacing")
    known = in_plane is not None and len(in_plane) >= 2
    spacing: tuple[float, ...] = (float(in_plane[0]), float(in_plane[1])) if known else (1.0, 1.0)
    if pixels.ndim == 3:  # a multi-frame file: one volume
        depth = dataset.get("SpacingBetweenSlices") or dataset.get("SliceThickness")
        spacing = (float(depth) if depth else 1.0, *spacing)
        known = known and bool(depth)
    del dataset
    return _Image(path, pixels, spacing, known)


def _read_nifti(path: Path, nibabel: ModuleType) -> _Image:
    image = nibabel.load(str(path))
    if len(image.shape) >= 3:
        image = nibabel.as_closest_canonical(image)
    data = np.asarray(image.get_fdata(dtype=np.float64))  # applies scl_slope / scl_inter
    zooms = [float(z) for z in nibabel.affines.voxel_sizes(image.affine)]  # as reoriented
    while data.ndim > 3 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim > 3:
        raise ValueError(f"a {data.ndim}D image of shape {data.shape}; give one 2D or 3D image")
    keep = [axis for axis in range(data.ndim) if data.shape[axis] > 1 or data.ndim == 2]
    if len(keep) < 2:
        raise ValueError(f"shape {data.shape} is not an image")
    if len(keep) < data.ndim:  # a single slice stored as a volume: a 2D image
        data = data.reshape([data.shape[axis] for axis in keep])
    pixels = data.transpose(tuple(reversed(range(data.ndim))))  # (x, y, z) -> (z, y, x)
    spacing = tuple(zooms[axis] if axis < len(zooms) else 1.0 for axis in reversed(keep))
    known = all(s > 0 for s in spacing)
    return _Image(path, pixels, spacing if known else (1.0,) * pixels.ndim, known)


# --------------------------------------------------------------------------- sizes and spacing
def _target_size(size: Sequence[int] | None) -> tuple[int, ...] | None:
    if size is None:
        return None
    wrong = DataError(f"size must be (H, W) or (D, H, W) positive integers, got {size!r}")
    try:
        target = tuple(int(s) for s in size)
        exact = all(float(s) == t for s, t in zip(size, target, strict=True))
    except (TypeError, ValueError):
        raise wrong from None
    if len(target) not in (2, 3) or min(target) < 1 or not exact:
        raise wrong
    return target


def _check_sizes(root: Path, images: dict[str, _Image], ndim: int) -> None:
    groups: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for image_id, image in images.items():
        groups[tuple(int(s) for s in image.pixels.shape)].append(image_id)
    if len(groups) == 1:
        return
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
    sizes = "; ".join(f"{_dims(shape)} ({len(ids)}: {_some(ids)})" for shape, ids in ordered)
    example = ", ".join(str(s) for s in ordered[0][0])
    raise DataError(
        f"{root}: the images have {len(groups)} different sizes: {sizes}; pass "
        f"size={'(H, W)' if ndim == 2 else '(D, H, W)'} (e.g. size=({example})) to resize them all"
    )


def _resize(image: _Image, target: tuple[int, ...]) -> _Image:
    shape = tuple(int(s) for s in image.pixels.shape)
    if shape == target:
        return image
    if image.pixels.ndim == 2:
        from PIL import Image

        picture = Image.fromarray(image.pixels.astype(np.float32))  # mode "F"
        resized = picture.resize((target[1], target[0]), Image.Resampling.BILINEAR)
        pixels = np.asarray(resized, dtype=np.float64)
    else:
        from scipy.ndimage import zoom

        factors = [t / s for t, s in zip(target, shape, strict=True)]
        pixels = zoom(image.pixels, factors, order=1, mode="nearest")
    if pixels.shape != target:  # zoom rounds the output shape; never expected to differ
        raise DataError(f"{image.path.name}: resizing gave {pixels.shape}, not {target}")
    spacing = image.spacing
    if image.spacing_known:  # the same field of view over more or fewer pixels
        spacing = tuple(sp * s / t for sp, s, t in zip(image.spacing, shape, target, strict=True))
    return _Image(image.path, pixels, spacing, image.spacing_known)


def _common_spacing(root: Path, images: dict[str, _Image]) -> tuple[float, ...]:
    groups: dict[tuple[float, ...], list[str]] = defaultdict(list)
    for image_id, image in images.items():
        groups[tuple(round(s, 4) for s in image.spacing)].append(image_id)
    if len(groups) > 1:
        ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
        listed = "; ".join(f"{_dims(sp)} ({len(ids)}: {_some(ids)})" for sp, ids in ordered)
        raise DataError(
            f"{root}: the images do not share one pixel spacing: {listed}; resample them to a "
            "common spacing first (e.g. nibabel.processing.resample_to_output or SimpleITK); "
            "PNG/JPEG files have spacing 1.0"
        )
    first = next(iter(images.values())).spacing
    return tuple(float(f"{s:.6g}") for s in first)  # float32 headers: 0.7, not 0.699999988


# --------------------------------------------------------------------------- messages
def _some(names: Sequence[str]) -> str:
    """Up to SHOWN names, then how many more."""
    shown = ", ".join(str(n) for n in names[:SHOWN])
    more = len(names) - SHOWN
    return f"{shown}, … ({more} more)" if more > 0 else shown


def _dims(values: Iterable[float]) -> str:
    return "×".join(f"{v:g}" for v in values)


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 120 else text[:117] + "…"
