"""``medseg run INPUT... -o OUT``: many studies into one output root, safely.

Layout of ``OUT``::

    config.yaml          every option of the last run, each input's folder, library versions
    medseg.log           the log of every run (appended)
    batch.csv            the last run's studies: name, input, status (done/skipped/failed), seconds, error
    <study>/             one folder per study (:mod:`.batch_names`), with run_study's outputs and,
                         written last, medseg-run.json (:mod:`.batch_record`)

Each study is computed into a hidden folder ``OUT/.<study>.partial-<pid>`` and renamed into
place only once complete, so ``OUT/<study>`` always holds one whole run: an interruption (Ctrl-C,
SIGTERM) removes the partial folder and leaves any earlier result as it was; a process killed
outright leaves a partial folder that the next run on that study removes. A study whose record
says it was made with the same options is skipped (``overwrite`` redoes it); one made with other
options is replaced whole, so no stale file stays beside the new report. A lock per study
(:mod:`.batch_lock`) lets two runs share a root: a study another run is working on is left for
last, then waited for, and is usually found complete.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Mapping, Sequence

from ..errors import InputError, MedSegError, OutputError
from ..progress import Progress
from .batch_lock import StudyLock
from .batch_names import study_names
from .batch_record import DONE, now, options_hash, read_done, write_config, write_done, write_summary

log = logging.getLogger("medseg.run")

#: Seconds between two looks at a study another run holds.
WAIT_POLL_S = 0.5


@dataclass
class StudyOutcome:
    """One study of a batch: its folder, what happened (done, skipped, failed, interrupted), how long."""

    name: str
    input: str
    folder: Path
    status: str = "pending"
    seconds: float = 0.0
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    outputs: dict[str, Path] = field(default_factory=dict)

    def row(self) -> dict:
        status = "not run" if self.status == "pending" else self.status
        return {"name": self.name, "input": self.input, "status": status, "seconds": round(self.seconds, 2),
                "error": self.error}


def check_inputs(inputs: Sequence[str | os.PathLike]) -> list[str]:
    """The inputs as given, each once; :class:`InputError` for the first that does not exist."""
    seen, out = set(), []
    for p in inputs:
        path = Path(p)
        if not path.exists():
            raise InputError(f"{p}: no such file or folder")
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(str(p))
    return out


def check_models(models: Sequence[str]) -> None:
    """Every ``--model`` names a model folder or a shipped model (:class:`MedSegError` otherwise); no torch."""
    from ..unet.card import resolve

    for m in models:
        resolve(m)


def _check_radiomics(preset) -> None:
    if not preset:
        return
    from ..errors import DependencyError
    from ..measure.radiomics import validate_params

    with contextlib.suppress(DependencyError):  # pyradiomics missing: a warning in each report instead
        validate_params(preset)


@contextlib.contextmanager
def _log_to(path: Path):
    """medseg's own INFO lines and everyone's warnings into ``path`` (appended) while the batch runs."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(f"%(asctime)s [{os.getpid()}] %(name)s %(levelname)s: %(message)s"))
    root, medseg_log = logging.getLogger(), logging.getLogger("medseg")
    level = medseg_log.level
    root.addHandler(handler)
    medseg_log.setLevel(logging.INFO)
    try:
        yield
    finally:
        medseg_log.setLevel(level)
        root.removeHandler(handler)
        handler.close()


def _remove_tree(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _leftovers(root: Path, name: str) -> list[Path]:
    """Partial and replaced folders of ``name`` left by runs that were killed (the caller holds its lock)."""
    return [p for p in root.iterdir() if p.name.startswith((f".{name}.partial-", f".{name}.old-"))]


def _install(staging: Path, folder: Path) -> None:
    """Put the complete ``staging`` folder in ``folder``'s place; an earlier result goes only now."""
    old = folder.parent / f".{folder.name}.old-{os.getpid()}"
    if folder.exists() or folder.is_symlink():
        os.replace(folder, old)
    os.replace(staging, folder)
    _remove_tree(old)


class _Batch:
    def __init__(self, root: Path, options: Mapping[str, Any], overwrite: bool,
                 progress_for: Callable[[str], ContextManager[Progress | None]], say: Callable[[str], None],
                 on_study: Callable[[StudyOutcome], None]):
        self.root, self.options, self.overwrite = root, dict(options), overwrite
        self.progress_for, self.say, self.on_study = progress_for, say, on_study

    def study(self, outcome: StudyOutcome) -> None:
        """Skip, or compute and install, one study; the caller holds its lock."""
        from .study import run_study

        for stale in _leftovers(self.root, outcome.name):
            log.info("%s: removing %s, left by a run that was stopped", outcome.name, stale.name)
            _remove_tree(stale)
        digest = options_hash(outcome.input, self.options)
        record = read_done(outcome.folder)
        if record is not None and record.get("options_hash") == digest and not self.overwrite:
            outcome.status = "skipped"
            outcome.seconds = 0.0
            log.info("%s: complete (options %s): skipped", outcome.name, digest)
            return
        why = ("--overwrite" if record is not None and record.get("options_hash") == digest
               else "made with other options" if record is not None
               else "incomplete" if outcome.folder.exists() else "new")
        log.info("%s: running %s (%s)", outcome.name, outcome.input, why)
        staging = self.root / f".{outcome.name}.partial-{os.getpid()}"
        t0 = time.perf_counter()
        try:
            with self.progress_for(outcome.name) as progress:
                result = run_study(outcome.input, staging, progress=progress, **self.options)
            outcome.seconds = time.perf_counter() - t0
            write_done(staging, {"options_hash": digest, "input": str(Path(outcome.input).resolve()),
                                 "options": self.options, "finished": now(), "seconds": round(outcome.seconds, 2),
                                 "step_seconds": result.seconds, "warnings": result.warnings,
                                 "outputs": {k: str(Path(v).relative_to(staging)) for k, v in result.outputs.items()}})
            _install(staging, outcome.folder)
        except BaseException:
            outcome.seconds = time.perf_counter() - t0
            _remove_tree(staging)
            raise
        outcome.status = "done"
        outcome.warnings = list(result.warnings)
        outcome.outputs = {k: outcome.folder / Path(v).relative_to(staging) for k, v in result.outputs.items()}
        for w in result.warnings:
            log.warning("%s: %s", outcome.name, w)
        log.info("%s: done in %.1f s", outcome.name, outcome.seconds)

    def attempt(self, outcome: StudyOutcome, lock: StudyLock) -> None:
        try:
            self.study(outcome)
        except MedSegError as exc:
            outcome.status, outcome.error = "failed", " ".join(str(exc).split())
            log.error("%s: failed: %s", outcome.name, outcome.error)
        finally:
            lock.release()
        self.on_study(outcome)


def run_batch(inputs: Sequence[str | os.PathLike], out: str | os.PathLike, options: Mapping[str, Any], *,
              overwrite: bool = False, progress_for: Callable[[str], ContextManager[Progress | None]] | None = None,
              say: Callable[[str], None] | None = None,
              on_study: Callable[[StudyOutcome], None] | None = None) -> list[StudyOutcome]:
    """Run :func:`~.study.run_study` on each input into its own folder of ``out`` (see the module).

    ``options``: run_study's keyword arguments (series, resample, force, skip_damaged,
    radiomics_preset, radiomics_labels, jobs, models, device, meshes, dicom_seg). ``progress_for``
    gives each study's progress callback (a context manager, by study name); ``say`` takes a line
    of news (a study skipped, a wait), ``on_study`` each outcome as soon as it is known. A missing input, a bad radiomics parameter file or an unknown model
    raise :class:`MedSegError` before anything is created; a study that fails is recorded
    (status ``failed``) and the others go on. Returns one outcome per input.
    """
    say = say or (lambda line: None)
    on_study = on_study or (lambda outcome: None)
    progress_for = progress_for or (lambda name: contextlib.nullcontext(None))
    inputs = check_inputs(inputs)
    _check_radiomics(options.get("radiomics_preset"))
    check_models(options.get("models") or ())
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise OutputError(f"cannot write into {out}: it is a file, not a folder")
    names = study_names(inputs)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from ..io.atomic import write_error

        raise write_error(out, exc) from None
    outcomes = [StudyOutcome(n, p, root / n) for n, p in zip(names, inputs)]
    batch = _Batch(root, options, overwrite, progress_for, say, on_study)
    with _log_to(root / "medseg.log"):
        write_config(root, inputs, names, options, overwrite)
        log.info("run of %d studies into %s", len(outcomes), root.resolve())
        current: StudyOutcome | None = None
        try:
            waiting = []
            for outcome in outcomes:
                current = outcome
                lock = StudyLock(root / f".{outcome.name}.lock")
                if lock.acquire():
                    batch.attempt(outcome, lock)
                else:
                    log.info("%s: held by another run (%s); left for last", outcome.name, lock.holder())
                    waiting.append((outcome, lock))
            for outcome, lock in waiting:
                current = outcome
                say(f"{outcome.input}: waiting for the other run working on it ({lock.holder() or 'a lock'})")
                while not lock.acquire():
                    time.sleep(WAIT_POLL_S)
                batch.attempt(outcome, lock)
            current = None
        except BaseException as exc:
            if current is not None and current.status == "pending":
                if isinstance(exc, KeyboardInterrupt):  # Ctrl-C, and SIGTERM (Terminated)
                    current.status, current.error = "interrupted", "the run was stopped during this study"
                else:  # a bug or the system refusing a write: the batch stops here
                    current.status, current.error = "failed", " ".join(f"{type(exc).__name__}: {exc}".split())
                log.warning("%s: %s; nothing of this attempt was kept", current.name, current.error)
            raise
        finally:
            write_summary(root, [o.row() for o in outcomes])
            failed = [o.name for o in outcomes if o.status == "failed"]
            log.info("finished: %d done, %d skipped, %d failed%s", sum(o.status == "done" for o in outcomes),
                     sum(o.status == "skipped" for o in outcomes), len(failed),
                     f" ({', '.join(failed)})" if failed else "")
    return outcomes
