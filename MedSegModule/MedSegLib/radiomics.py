"""pyradiomics features per segment: one wide row per segment, for one case or a batch of cases.

``extract(image, labels, names, params)`` runs pyradiomics' own
``RadiomicsFeatureExtractor(params).execute(image, mask, label=value)`` once per segment and returns
rows ``{"segment": name, "label_value": value, "original_firstorder_Mean": ..., ...}``. The values are
pyradiomics' own, converted to plain Python scalars, so they equal a direct pyradiomics call made with
the same settings on the same image and mask.

* **Parameters** are pyradiomics YAML files in pyradiomics' own schema, or the name of a preset
  shipped in ``MedSegLib/resources/radiomics/`` (:func:`list_presets`): ``ct-default`` (bin width
  25 HU, 1 mm isotropic B-spline resampling, every original feature class), ``ct-wavelet-log``
  (plus wavelet and LoG sigma 1/2/3 mm) and ``ct-baseline`` (no resampling; the fast one).
* **Segments.** By default every label value present, except that with the auto-label table's names
  body (1) and table-headrest (2) are left out (slow and meaningless for radiomics);
  ``label_values`` picks segments by value or name.
* **Geometry.** Labels are put onto the image grid with :func:`MedSegLib.io.grid.align_labels`:
  a grid that truly differs is a :class:`GeometryError` showing both geometries, unless
  ``resample_labels`` is true.
* **Process pool.** ``jobs > 1`` runs segments (and, in :func:`extract_cases`, cases) in a
  :class:`concurrent.futures.ProcessPoolExecutor`. SimpleITK images are handed to workers as
  ``.npy`` voxel arrays in a temporary folder plus their exact float geometry, so a worker rebuilds
  the identical image and the rows equal those of ``jobs=1``.
* pyradiomics is imported only when features are extracted: MedSegLib imports without it, and a
  missing pyradiomics is a :class:`DependencyError` saying how to install it.
"""

from __future__ import annotations

import copy
import json
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

import numpy as np
import SimpleITK as sitk
import yaml

from .errors import Cancelled, DependencyError, InputError, MedSegError, ParameterError
from .labels import BODY, TABLE_HEADREST
from .steps import CancelEvent, Progress, check_cancel, report
from .tables import read_named_labels, segment_name, write_rows

__all__ = [
    "INSTALL_HINT", "DEFAULT_PRESET", "list_presets", "preset_path", "load_params", "validate_params",
    "label_sizes", "present_label_values", "default_label_values", "select_label_values", "extract", "extract_cases", "write_rows",
]

log = logging.getLogger(__name__)

#: What to do when pyradiomics is missing (pyradiomics 3.0.1 only builds without build isolation).
INSTALL_HINT = ("pyradiomics is not installed: install it with `pip install numpy versioneer` then "
                "`pip install --no-build-isolation pyradiomics==3.0.1`; in 3D Slicer, install the "
                "SlicerRadiomics extension from the Extensions Manager")

DEFAULT_PRESET = "ct-default"

#: Top-level keys of pyradiomics' parameter schema.
_PARAM_SECTIONS = {"imageType", "featureClass", "setting", "voxelSetting"}

#: Auto-label segments left out by default (when the names say they are the auto-label table's).
_SKIPPED_BY_DEFAULT = (BODY, TABLE_HEADREST)

_DIAGNOSTICS = "diagnostics_"


# --------------------------------------------------------------------------------------------------
# pyradiomics, lazily


class _DropSymmetricalGlcmNote(logging.Filter):
    """pyradiomics warns once per segment that Sum Average = 2 * Joint Average for a symmetrical GLCM.

    The feature is still computed (all original features are enabled); the note is dropped so a
    run's stderr shows only warnings that mean something.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("GLCM is symmetrical")


_GLCM_NOTE_FILTER = _DropSymmetricalGlcmNote()


def _featureextractor():
    """pyradiomics' ``featureextractor`` module, or :class:`DependencyError` with the install commands."""
    try:
        from radiomics import featureextractor  # noqa: PLC0415 (lazy on purpose)
    except ImportError as exc:
        raise DependencyError(f"{INSTALL_HINT} (import failed: {exc})") from None
    glcm_logger = logging.getLogger("radiomics.glcm")
    if _GLCM_NOTE_FILTER not in glcm_logger.filters:
        glcm_logger.addFilter(_GLCM_NOTE_FILTER)
    return featureextractor


def _new_extractor(params: Mapping[str, Any]):
    featureextractor = _featureextractor()
    try:
        return featureextractor.RadiomicsFeatureExtractor(copy.deepcopy(dict(params)))
    except Exception as exc:  # pykwalify SchemaError, or pyradiomics' own checks
        message = " ".join(str(exc).split())
        raise ParameterError(f"invalid pyradiomics parameters: {message}") from None


# --------------------------------------------------------------------------------------------------
# Parameters and presets


def _presets_dir():
    return resources.files("MedSegLib").joinpath("resources", "radiomics")


def list_presets() -> list[str]:
    """Names of the shipped parameter presets (``ct-default``, ``ct-baseline``, ...)."""
    return sorted(p.name[: -len(".yaml")] for p in _presets_dir().iterdir() if p.name.endswith(".yaml"))


def preset_path(name: str):
    """The preset's YAML resource (a Traversable; a real file when installed from a wheel or a checkout)."""
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else name
    path = _presets_dir().joinpath(stem + ".yaml")
    if not path.is_file():
        raise ParameterError(f"unknown radiomics preset {name!r}; presets: {', '.join(list_presets())}")
    return path


def _check_structure(params: Any, source: str) -> dict:
    if params is None:
        params = {}
    if not isinstance(params, Mapping):
        raise ParameterError(f"{source}: pyradiomics parameters must be a mapping with sections "
                             f"{sorted(_PARAM_SECTIONS)}, got {type(params).__name__}")
    unknown = set(params) - _PARAM_SECTIONS
    if unknown:
        raise ParameterError(f"{source}: unknown pyradiomics parameter sections {sorted(unknown)}; "
                             f"allowed: {sorted(_PARAM_SECTIONS)}")
    return copy.deepcopy(dict(params))


def load_params(preset_or_path: str | os.PathLike | Mapping[str, Any] | None = None) -> dict:
    """pyradiomics parameters as a dict, from a YAML file, a preset name, or a dict (copied).

    ``None`` means :data:`DEFAULT_PRESET`. An existing file wins over a preset of the same name.
    The dict follows pyradiomics' schema (``imageType``, ``featureClass``, ``setting``,
    ``voxelSetting``); its values are checked by pyradiomics itself when features are extracted
    (or by :func:`validate_params`).
    """
    if preset_or_path is None:
        preset_or_path = DEFAULT_PRESET
    if isinstance(preset_or_path, Mapping):
        return _check_structure(preset_or_path, "parameters")
    text_name = str(preset_or_path)
    path = Path(preset_or_path)
    if path.is_file():
        source, opener = str(path), path
    else:
        is_bare_name = "/" not in text_name and os.sep not in text_name
        stem = text_name[: -len(".yaml")] if text_name.endswith(".yaml") else text_name
        if not (is_bare_name and stem in list_presets()):
            raise ParameterError(f"radiomics parameters {text_name!r}: no such file, and not a preset "
                                 f"({', '.join(list_presets())})")
        opener = preset_path(stem)
        source = f"preset {stem}"
    try:
        with opener.open("r", encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise ParameterError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from None
    except OSError as exc:
        raise ParameterError(f"{source}: cannot read it: {exc}") from None
    return _check_structure(data, source)


def validate_params(params: str | os.PathLike | Mapping[str, Any] | None) -> dict:
    """Load ``params`` and have pyradiomics validate them; :class:`ParameterError` if it refuses them."""
    loaded = load_params(params)
    _new_extractor(loaded)
    return loaded


# --------------------------------------------------------------------------------------------------
# Which segments


def label_sizes(labels: sitk.Image) -> dict[int, int]:
    """Voxel count of every non-zero label value in ``labels``, by ascending value."""
    arr = sitk.GetArrayViewFromImage(labels)
    if arr.dtype.kind not in "iub":
        raise InputError(f"the label image has voxel type {labels.GetPixelIDTypeAsString()}; expected integer labels")
    if arr.dtype.itemsize <= 2 and arr.dtype.kind in "ub":
        counts = np.bincount(arr.reshape(-1).astype(np.intp, copy=False))
        values = np.flatnonzero(counts)
        counts = counts[values]
    else:
        values, counts = np.unique(arr, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts) if v != 0}


def present_label_values(labels: sitk.Image) -> list[int]:
    """Non-zero label values in ``labels``, ascending."""
    return list(label_sizes(labels))


def _is_auto_label(value: int, names: Mapping[int, str] | None, label) -> bool:
    return bool(names) and value == label.value and str(names.get(value, "")).strip().lower() == label.name


def default_label_values(present: Sequence[int], names: Mapping[int, str] | None) -> list[int]:
    """Every present value, less body (1) and table-headrest (2) when ``names`` says they are those."""
    skipped = {lab.value for lab in _SKIPPED_BY_DEFAULT if _is_auto_label(lab.value, names, lab)}
    return [v for v in present if v not in skipped]


def _resolve(item: int | str, names: Mapping[int, str] | None) -> int:
    if isinstance(item, (int, np.integer)) and not isinstance(item, bool):
        return int(item)
    text = str(item).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    for value, name in (names or {}).items():
        if name == text:
            return int(value)
    for value, name in (names or {}).items():
        if name.lower() == text.lower():
            return int(value)
    known = ", ".join(f"{v}={n}" for v, n in sorted((names or {}).items()))
    raise ParameterError(f"unknown segment {text!r}: give a label value or a segment name"
                         + (f" ({known})" if known else " (this label map has no segment names)"))


def select_label_values(present: Sequence[int], names: Mapping[int, str] | None,
                        label_values: Iterable[int | str] | None = None, strict: bool = True) -> list[int]:
    """The label values to extract: ``label_values`` (values or segment names) or the defaults.

    With ``strict``, a requested value absent from the label map is a :class:`ParameterError`;
    otherwise it is skipped (batches across cases, where a case may lack a structure).
    """
    if label_values is None:
        chosen = default_label_values(present, names)
        if not chosen:
            what = "no labelled voxels" if not present else "only body/table-headrest, which are left out by default"
            raise ParameterError(f"nothing to extract: the label map holds {what}; pick segments with --labels")
        return chosen
    chosen: list[int] = []
    for item in label_values:
        value = _resolve(item, names)
        if value in chosen:
            continue
        if value not in present:
            if strict:
                raise ParameterError(f"label {value} ({segment_name(value, names)}) is not in the label map; "
                                     f"present: {', '.join(map(str, present)) or 'none'}")
            continue
        chosen.append(value)
    if not chosen:
        raise ParameterError("none of the requested labels is in the label map")
    return chosen


# --------------------------------------------------------------------------------------------------
# One segment


def _plain(value: Any) -> Any:
    """A pyradiomics value as a plain Python scalar; containers become JSON text."""
    if isinstance(value, np.ndarray):
        value = value.item() if value.size == 1 else value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(_to_jsonable(value))


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def _execute(image: sitk.Image, mask: sitk.Image, params: Mapping[str, Any], value: int, name: str,
             diagnostics: bool) -> dict:
    """Features of one segment: pyradiomics' ``execute`` with ``label=value``, as plain values."""
    extractor = _new_extractor(params)
    try:
        result = extractor.execute(image, mask, label=int(value))
    except (ValueError, RuntimeError, IndexError, ZeroDivisionError) as exc:
        message = " ".join(str(exc).split())
        raise InputError(f"segment {name} (label {value}): pyradiomics could not extract features: {message}; "
                         "leave it out with --labels") from None
    features: dict[str, Any] = {}
    for key, val in result.items():
        if key.startswith(_DIAGNOSTICS) and not diagnostics:
            continue
        features[key] = _plain(val)
    return features


# Worker side: images arrive as (npy path, spacing, origin, direction) and are rebuilt exactly.
_worker_images: dict[str, sitk.Image] = {}


def _worker_init(threads: int) -> None:
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(max(1, int(threads)))


def _rebuild(ref: tuple) -> sitk.Image:
    path, spacing, origin, direction = ref
    image = _worker_images.get(path)
    if image is None:
        image = sitk.GetImageFromArray(np.load(path), isVector=False)
        image.SetSpacing(spacing)
        image.SetOrigin(origin)
        image.SetDirection(direction)
        if len(_worker_images) >= 4:
            _worker_images.clear()
        _worker_images[path] = image
    return image


def _run_task(task: tuple) -> dict:
    image_ref, mask_ref, params, value, name, diagnostics = task
    return _execute(_rebuild(image_ref), _rebuild(mask_ref), params, value, name, diagnostics)


def _share(image: sitk.Image, path: Path) -> tuple:
    """Save ``image``'s voxels to ``path`` (.npy) and return what a worker needs to rebuild it exactly."""
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"expected a scalar image, got {image.GetNumberOfComponentsPerPixel()} components per voxel")
    np.save(path, sitk.GetArrayViewFromImage(image), allow_pickle=False)
    return (str(path), tuple(image.GetSpacing()), tuple(image.GetOrigin()), tuple(image.GetDirection()))


# --------------------------------------------------------------------------------------------------
# Running many segments


@dataclass
class _Case:
    case: str | None          # None for a single extract() (no "case" column)
    image: sitk.Image
    mask: sitk.Image
    names: Mapping[int, str]
    values: list[int]
    sizes: Mapping[int, int] | None = None   # voxels per label value, to submit big segments first


def _row(case: _Case, value: int, features: Mapping[str, Any]) -> dict:
    row: dict[str, Any] = {}
    if case.case is not None:
        row["case"] = case.case
    row["segment"] = segment_name(value, case.names)
    row["label_value"] = int(value)
    row.update(features)
    return row


def _pool_context(mp_context: str | None):
    """The multiprocessing context for the pool: ``mp_context`` if given, else fork on Linux.

    fork starts workers at once and needs no importable ``__main__`` (consoles, Slicer's Python,
    ``python -`` scripts); ITK re-arms its thread pool after a fork. Elsewhere the platform's
    default (spawn on macOS and Windows).
    """
    if mp_context:
        return multiprocessing.get_context(mp_context)
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _resolve_jobs(jobs: int | None) -> int:
    if jobs is None or jobs <= 0:
        return os.cpu_count() or 1
    return int(jobs)


def _run(cases: Iterator[_Case | MedSegError], n_cases: int, params: Mapping[str, Any], diagnostics: bool,
         jobs: int | None, failures: list | None, progress: Progress | None, cancel: CancelEvent,
         mp_context: str | None = None) -> list[dict]:
    """Extract every (case, segment); rows in case order, then segment order, however they finish.

    ``cases`` yields prepared cases, or a :class:`MedSegError` for a case that could not be prepared.
    A failing case raises, unless ``failures`` is a list: then ``(case, message)`` is appended to it
    and the case's rows are left out.
    """
    jobs = _resolve_jobs(jobs)
    results: dict[int, dict[int, dict]] = {}      # case index -> segment index -> row
    prepared: dict[int, _Case] = {}
    done: dict[int, int] = {}
    failed: dict[int, str] = {}

    def fail(index: int, label: str, error: MedSegError) -> None:
        if failures is None:
            raise error
        failed[index] = str(error)
        failures.append((label, str(error)))
        log.warning("%s: %s", label, error)

    def tick(index: int, message: str) -> None:
        done[index] = done.get(index, 0) + 1
        fraction = sum(min(1.0, d / max(1, len(prepared[i].values))) if i in prepared else 1.0
                       for i, d in done.items()) / max(1, n_cases)
        report(progress, fraction, message)

    def case_label(index: int, case: _Case | None) -> str:
        return case.case if case is not None and case.case is not None else f"case {index + 1}"

    report(progress, 0.0, "radiomics: starting")
    if jobs <= 1:
        for ci, case in enumerate(cases):
            check_cancel(cancel)
            if isinstance(case, MedSegError):
                fail(ci, getattr(case, "case_label", f"case {ci + 1}"), case)
                done[ci] = 0
                continue
            prepared[ci] = case
            rows: dict[int, dict] = {}
            try:
                for si, value in enumerate(case.values):
                    check_cancel(cancel)
                    features = _execute(case.image, case.mask, params, value,
                                        segment_name(value, case.names), diagnostics)
                    rows[si] = _row(case, value, features)
                    tick(ci, f"radiomics: {case_label(ci, case)} {segment_name(value, case.names)}")
            except Cancelled:
                raise
            except MedSegError as error:
                fail(ci, case_label(ci, case), error)
                continue
            results[ci] = rows
            prepared[ci] = _Case(case.case, None, None, case.names, case.values)  # free the voxels
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        tmp = Path(tempfile.mkdtemp(prefix="medseg-radiomics-"))
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=_pool_context(mp_context),
                                   initializer=_worker_init, initargs=(threads,))
        pending: dict[Future, tuple[int, int, int]] = {}
        remaining: dict[int, int] = {}                # case index -> tasks not finished
        shared: dict[int, tuple[Path, Path]] = {}     # case index -> its .npy files

        def finished_task(ci: int) -> None:
            remaining[ci] -= 1
            if remaining[ci] == 0:  # nobody needs this case's voxels any more
                for path in shared.pop(ci, ()):
                    path.unlink(missing_ok=True)

        try:
            def collect(block: bool) -> None:
                while pending:
                    check_cancel(cancel)
                    finished, _ = wait(list(pending), timeout=0.2 if block else 0, return_when=FIRST_COMPLETED)
                    if not finished:
                        if block:
                            continue
                        return
                    for fut in finished:
                        ci, si, value = pending.pop(fut)
                        finished_task(ci)
                        if ci in failed:
                            continue
                        case = prepared[ci]
                        try:
                            features = fut.result()
                        except BrokenProcessPool:
                            raise ParameterError("a radiomics worker process died (out of memory?); "
                                                 "run again with fewer --jobs") from None
                        except MedSegError as error:
                            for other, (oci, _, _) in list(pending.items()):
                                if oci == ci and other.cancel():
                                    del pending[other]
                                    finished_task(ci)
                            fail(ci, case_label(ci, case), error)
                            continue
                        results.setdefault(ci, {})[si] = _row(case, value, features)
                        tick(ci, f"radiomics: {case_label(ci, case)} {segment_name(value, case.names)}")
                    if not block:
                        return

            for ci, case in enumerate(cases):
                check_cancel(cancel)
                if isinstance(case, MedSegError):
                    fail(ci, getattr(case, "case_label", f"case {ci + 1}"), case)
                    done[ci] = 0
                    continue
                image_ref = _share(case.image, tmp / f"case{ci}-image.npy")
                mask_ref = _share(case.mask, tmp / f"case{ci}-labels.npy")
                shared[ci] = (Path(image_ref[0]), Path(mask_ref[0]))
                remaining[ci] = len(case.values)
                prepared[ci] = _Case(case.case, None, None, case.names, case.values)
                # Largest segments first (longest-processing-time first balances the workers);
                # rows still come out in the case's segment order.
                sizes = case.sizes or {}
                for si, value in sorted(enumerate(case.values), key=lambda sv: -sizes.get(sv[1], 0)):
                    task = (image_ref, mask_ref, dict(params), value, segment_name(value, case.names), diagnostics)
                    pending[pool.submit(_run_task, task)] = (ci, si, value)
                del case
                collect(block=False)
            collect(block=True)
        except BaseException:
            for fut in pending:
                fut.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        else:
            pool.shutdown(wait=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    report(progress, 1.0, "radiomics: done")
    rows_out: list[dict] = []
    for ci in sorted(results):
        if ci in failed:
            continue
        rows_out.extend(results[ci][si] for si in sorted(results[ci]))
    return rows_out


# --------------------------------------------------------------------------------------------------
# Public API


def _prepare(image: sitk.Image, labels: sitk.Image, names: Mapping[int, str] | None,
             label_values: Iterable[int | str] | None, resample_labels: bool, strict: bool,
             case: str | None) -> _Case:
    from .io.grid import align_labels

    if image.GetDimension() != 3 or labels.GetDimension() != 3:
        raise InputError(f"radiomics needs 3D images; got image {image.GetDimension()}D and labels {labels.GetDimension()}D")
    mask = align_labels(labels, image, resample=resample_labels, what="labels")
    names = dict(names or {})
    sizes = label_sizes(mask)
    values = select_label_values(list(sizes), names, label_values, strict=strict)
    return _Case(case, image, mask, names, values, sizes)


def extract(image: sitk.Image, labels: sitk.Image, names: Mapping[int, str] | None = None,
            params: str | os.PathLike | Mapping[str, Any] | None = DEFAULT_PRESET,
            label_values: Iterable[int | str] | None = None, diagnostics: bool = False, jobs: int = 1,
            resample_labels: bool = False, progress: Progress | None = None, cancel: CancelEvent = None,
            mp_context: str | None = None) -> list[dict]:
    """pyradiomics features of each segment of ``labels`` on ``image``: one row per segment.

    Rows start with ``segment`` (its name, or ``label-<value>``) and ``label_value``, then every
    feature under pyradiomics' name (``original_firstorder_Mean``, ...), then, only when
    ``diagnostics`` is true, pyradiomics' ``diagnostics_*`` columns (containers as JSON text).

    ``params``: a preset name, a YAML path, or a dict (pyradiomics' schema). ``label_values``:
    label values or segment names to extract (default: see :func:`default_label_values`).
    ``jobs``: worker processes across segments (``<= 0``: one per CPU). ``resample_labels``: put a
    label map on another grid onto the image's grid (nearest neighbour) instead of refusing it.

    Raises :class:`DependencyError` (no pyradiomics), :class:`ParameterError` (bad parameters or
    labels), :class:`GeometryError` (grids differ), :class:`InputError` (pyradiomics refused a
    segment, e.g. a single voxel), :class:`Cancelled`.
    """
    params = load_params(params)
    _new_extractor(params)  # fail early: dependency and parameter errors before any work
    case = _prepare(image, labels, names, label_values, resample_labels, strict=True, case=None)
    jobs = min(_resolve_jobs(jobs), len(case.values))  # no idle workers
    return _run(iter([case]), 1, params, diagnostics, jobs, None, progress, cancel, mp_context)


def _case_spec(spec: Sequence) -> tuple[str, str | os.PathLike, str | os.PathLike]:
    if len(spec) == 2:
        return str(spec[0]), spec[0], spec[1]
    if len(spec) == 3:
        return str(spec[0]), spec[1], spec[2]
    raise ParameterError(f"a case is (image, labels) or (case id, image, labels), got {spec!r}")


def extract_cases(cases: Sequence[Sequence], params: str | os.PathLike | Mapping[str, Any] | None = DEFAULT_PRESET,
                  label_values: Iterable[int | str] | None = None, diagnostics: bool = False, jobs: int = 1,
                  resample_labels: bool = False, failures: list | None = None, progress: Progress | None = None,
                  cancel: CancelEvent = None, mp_context: str | None = None) -> list[dict]:
    """:func:`extract` over many cases, all segments of all cases sharing one process pool.

    ``cases``: ``(image_path, labels_path)`` or ``(case_id, image_path, labels_path)`` each; the image
    is any input :func:`MedSegLib.io.load` reads (DICOM folder, NRRD, NIfTI), the labels any label
    image (:func:`MedSegLib.io.read_label_image`; names from a seg.nrrd or a ``<labels>.json`` beside a
    plain volume). Rows gain a leading ``case`` column (the case id, by default the image path).

    ``label_values`` absent from a case are skipped for that case. A case that fails (unreadable,
    geometry mismatch, pyradiomics refusing a segment) raises, unless ``failures`` is a list: then
    ``(case_id, message)`` is appended and the other cases go on (the CLI's exit code 3).
    """
    from .io import load

    params = load_params(params)
    _new_extractor(params)
    specs = [_case_spec(spec) for spec in cases]
    wanted = None if label_values is None else list(label_values)

    def prepared() -> Iterator[_Case | MedSegError]:
        for case_id, image_path, labels_path in specs:
            try:
                image, _meta = load(image_path)
                labels, names = read_named_labels(labels_path)
                yield _prepare(image, labels, names, wanted, resample_labels, strict=False, case=case_id)
            except Cancelled:
                raise
            except MedSegError as error:
                error.case_label = case_id  # type: ignore[attr-defined]
                yield error

    return _run(prepared(), len(specs), params, diagnostics, jobs, failures, progress, cancel, mp_context)
