"""Running pyradiomics for :mod:`medseg.measure.radiomics.features`: the lazy import, one segment, the process pool.

* pyradiomics is imported only when features are extracted (:func:`_featureextractor`):
  medseg imports without it, and a missing pyradiomics is a :class:`DependencyError` saying
  how to install it (:data:`INSTALL_HINT`).
* :func:`_execute` runs pyradiomics' ``execute`` for one segment and returns plain Python values.
* :func:`_run` extracts every (case, segment), in-process for ``jobs <= 1``, else in a
  :class:`concurrent.futures.ProcessPoolExecutor`. SimpleITK images are handed to workers as
  ``.npy`` voxel arrays in a temporary folder plus their exact float geometry, so a worker
  rebuilds the identical image and the rows equal those of ``jobs=1``.
* Interruption (Ctrl-C, SIGTERM through the CLI, a cancel event) stops the workers at once
  (they are terminated, not waited for) and removes the temporary folder. Workers ignore Ctrl-C
  (the parent handles it) and get SIGTERM when the parent dies, even by SIGKILL (Linux); a folder
  ``medseg-radiomics-<pid>-*`` left by a process that is gone is removed by the next pool.

Everything here but :data:`INSTALL_HINT` is private to :mod:`medseg.measure.radiomics.features`.
"""

from __future__ import annotations

import copy
import json
import logging
import multiprocessing
import os
import re
import shutil
import signal
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np
import SimpleITK as sitk

from ...errors import Cancelled, DependencyError, InputError, MedSegError, ParameterError
from ...progress import CancelEvent, Progress, check_cancel, report
from ...labels import segment_name

# The public module's logger: failed-case warnings are named after the module users call.
log = logging.getLogger(f"{__package__}.radiomics")

#: What to do when pyradiomics is missing (pyradiomics 3.0.1 only builds without build isolation).
INSTALL_HINT = ("pyradiomics is not installed: install it with `pip install numpy versioneer` then "
                "`pip install --no-build-isolation pyradiomics==3.0.1`; in 3D Slicer, install the "
                "SlicerRadiomics extension from the Extensions Manager")

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
        import radiomics  # noqa: PLC0415 (lazy on purpose)
        from radiomics import featureextractor  # noqa: PLC0415
    except ImportError as exc:
        raise DependencyError(f"{INSTALL_HINT} (import failed: {exc})") from None
    if logging.getLogger().handlers:
        # The application logs (the CLI's log file, Slicer's console): pyradiomics' own stderr
        # handler would print every warning a second time, outside that log.
        radiomics.setVerbosity(logging.CRITICAL + 10)
    glcm_logger = logging.getLogger("radiomics.glcm")
    if _GLCM_NOTE_FILTER not in glcm_logger.filters:
        glcm_logger.addFilter(_GLCM_NOTE_FILTER)
    return featureextractor


def new_extractor(params: Mapping[str, Any]):
    featureextractor = _featureextractor()
    try:
        return featureextractor.RadiomicsFeatureExtractor(copy.deepcopy(dict(params)))
    except Exception as exc:  # pykwalify SchemaError, or pyradiomics' own checks
        message = " ".join(str(exc).split())
        raise ParameterError(f"invalid pyradiomics parameters: {message}") from None


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
    extractor = new_extractor(params)
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
    # The parent handles Ctrl-C and SIGTERM and stops the workers; a worker just dies when told to,
    # and when its parent dies (even by SIGKILL), so it never lingers holding the pool's pipes.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
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
class Case:
    case: str | None          # None for a single extract() (no "case" column)
    image: sitk.Image
    mask: sitk.Image
    names: Mapping[int, str]
    values: list[int]
    sizes: Mapping[int, int] | None = None   # voxels per label value, to submit big segments first


def _row(case: Case, value: int, features: Mapping[str, Any]) -> dict:
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


_POOL_DIR = "medseg-radiomics-"
_POOL_DIR_PID = re.compile(rf"^{_POOL_DIR}(\d+)-")
#: A pool folder without a process id (an older naming) is stale after this long (s).
_POOL_DIR_STALE_S = 24 * 3600


def _pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_stale_pool_dirs(root: str | os.PathLike | None = None) -> list[Path]:
    """Remove ``medseg-radiomics-*`` folders in the temporary folder whose process is gone."""
    base = Path(root or tempfile.gettempdir())
    removed = []
    try:
        candidates = [p for p in base.iterdir() if p.name.startswith(_POOL_DIR) and p.is_dir() and not p.is_symlink()]
    except OSError:
        return removed
    for p in candidates:
        match = _POOL_DIR_PID.match(p.name)
        try:
            stale = _pid_gone(int(match.group(1))) if match else time.time() - p.stat().st_mtime > _POOL_DIR_STALE_S
        except OSError:
            continue
        if stale and int(match.group(1) if match else -1) != os.getpid():
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's worker processes now (an interruption: their results are not wanted)."""
    terminate = getattr(pool, "terminate_workers", None)  # Python 3.14+
    if terminate is not None:
        terminate()
        return
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.kill()  # SIGKILL: a worker may not have installed its own handlers yet
        except (OSError, ValueError, AttributeError):
            pass
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            proc.join(timeout=5)
        except (OSError, ValueError, AttributeError, AssertionError):
            pass


def resolve_jobs(jobs: int | None) -> int:
    if jobs is None or jobs <= 0:
        return os.cpu_count() or 1
    return int(jobs)


def run_cases(cases: Iterator[Case | MedSegError], n_cases: int, params: Mapping[str, Any], diagnostics: bool,
         jobs: int | None, failures: list | None, progress: Progress | None, cancel: CancelEvent,
         mp_context: str | None = None) -> list[dict]:
    """Extract every (case, segment); rows in case order, then segment order, however they finish.

    ``cases`` yields prepared cases, or a :class:`MedSegError` for a case that could not be prepared.
    A failing case raises, unless ``failures`` is a list: then ``(case, message)`` is appended to it
    and the case's rows are left out.
    """
    jobs = resolve_jobs(jobs)
    results: dict[int, dict[int, dict]] = {}      # case index -> segment index -> row
    prepared: dict[int, Case] = {}
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

    def case_label(index: int, case: Case | None) -> str:
        return case.case if case is not None and case.case is not None else f"case {index + 1}"

    def load_failed(index: int, case: Case | MedSegError) -> bool:
        """Record a case that could not even be loaded (it arrives as its error); True if so."""
        if not isinstance(case, MedSegError):
            return False
        fail(index, getattr(case, "case_label", f"case {index + 1}"), case)
        done[index] = 0
        return True

    report(progress, 0.0, "radiomics: starting")
    if jobs <= 1:
        for ci, case in enumerate(cases):
            check_cancel(cancel)
            if load_failed(ci, case):
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
            prepared[ci] = Case(case.case, None, None, case.names, case.values)  # free the voxels
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        remove_stale_pool_dirs()
        tmp = Path(tempfile.mkdtemp(prefix=f"{_POOL_DIR}{os.getpid()}-"))
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
                if load_failed(ci, case):
                    continue
                image_ref = _share(case.image, tmp / f"case{ci}-image.npy")
                mask_ref = _share(case.mask, tmp / f"case{ci}-labels.npy")
                shared[ci] = (Path(image_ref[0]), Path(mask_ref[0]))
                remaining[ci] = len(case.values)
                prepared[ci] = Case(case.case, None, None, case.names, case.values)
                # Largest segments first (longest-processing-time first balances the workers);
                # rows still come out in the case's segment order.
                sizes = case.sizes or {}
                for si, value in sorted(enumerate(case.values), key=lambda sv: -sizes.get(sv[1], 0)):
                    task = (image_ref, mask_ref, dict(params), value, segment_name(value, case.names), diagnostics)
                    pending[pool.submit(_run_task, task)] = (ci, si, value)
                del case
                collect(block=False)
            collect(block=True)
        except BaseException as exc:
            for fut in pending:
                fut.cancel()
            if isinstance(exc, (KeyboardInterrupt, Cancelled)):
                _stop_workers(pool)  # do not wait for segments nobody wants any more
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
