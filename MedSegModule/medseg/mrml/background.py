"""Long steps in a background process: Slicer stays responsive, Cancel works, and a crash in the
step (torch, a decoder) ends that process, not Slicer.

    job = start(logic, "autolabel", volumeNode, {"force": False})
    while job.running:
        for event in job.poll():   # from a QTimer in the panel; a loop on the console
            print(event.text)
    node = job.finish()            # the same node(s) the logic method returns

The inputs are written to a temporary folder, :mod:`.worker` runs the step from
:mod:`.compute` with Slicer's Python (``PythonSlicer``, else this interpreter) and streams its
progress on standard output; :meth:`Job.finish` puts the outputs into the scene with
``MedSegLogic.addOutputs``, exactly as the in-process method does. Nothing here imports Qt.

:meth:`Job.cancel` asks the step to stop (it does between its stages); one that has not stopped
after :data:`GRACE_SECONDS` is killed with its whole process group (PythonSlicer is a launcher:
the Python running the step is its child).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

from ..errors import Cancelled, MedSegError
from .worker import EXIT_CANCELLED, EXIT_ERROR, PREFIX, load_outputs, save_inputs

#: Seconds a cancelled step has to stop by itself before it is killed.
GRACE_SECONDS = 5.0


@dataclass
class Event:
    """One line from the step: ``kind`` "progress" (with ``fraction``), "log", "error" or "cancelled"."""

    kind: str
    text: str
    fraction: Optional[float] = None


def python_executable() -> str:
    """Slicer's ``PythonSlicer`` when running inside Slicer, else this interpreter."""
    try:
        import slicer

        inside = hasattr(slicer, "app")
    except ImportError:
        inside = False
    return (shutil.which("PythonSlicer") if inside else None) or sys.executable


def parse_line(line: str) -> Event:
    """One line of the worker's output as an :class:`Event`."""
    line = line.rstrip("\n")
    if not line.startswith(PREFIX):
        return Event("log", line)
    try:
        event = json.loads(line[len(PREFIX):])
    except ValueError:
        return Event("log", line)
    if "progress" in event:
        return Event("progress", str(event.get("message", "")), float(event["progress"]))
    if "error" in event:
        return Event("error", str(event["error"]))
    if event.get("cancelled"):
        return Event("cancelled", "cancelled")
    return Event("done", f"done on {event['device']}" if event.get("device") else "done")


class Job:
    """One step running in a background process (see the module docstring)."""

    def __init__(self, logic, step: str, volumeNode, options: dict, segmentationNode=None, segments=None,
                 tableNode=None, closedSurface=True, python: str | None = None):
        self.logic, self.step, self.volumeNode = logic, step, volumeNode
        self.segmentationNode, self.tableNode, self.closedSurface = segmentationNode, tableNode, closedSurface
        self.folder = Path(tempfile.mkdtemp(prefix=f"medseg-{step}-"))
        self.cancel_file = self.folder / "cancel"
        save_inputs(logic.stepInputs(volumeNode, segmentationNode, segments, step=step), self.folder)
        request = self.folder / "request.json"
        request.write_text(json.dumps({"step": step, "options": options, "folder": str(self.folder),
                                       "cancel_file": str(self.cancel_file)}), encoding="utf-8")
        self.command = [python or python_executable(), "-m", "medseg.mrml.worker", str(request)]
        self.process: subprocess.Popen | None = None
        self.error = ""
        self.cancelled = False
        self._lines: queue.Queue = queue.Queue()
        self._cancel_time: float | None = None

    # --- running ------------------------------------------------------------------------------------

    def environment(self) -> dict:
        """This process's environment, with the folder holding ``medseg`` first on PYTHONPATH (and, for
        grow from seeds, the folder of Slicer's grow-cut wrapper where this process finds it)."""
        import medseg

        env = dict(os.environ)
        here = [str(Path(medseg.__file__).resolve().parents[1])]
        if self.step == "growFromSeeds":
            from .growcut import wrapper_folder

            here += [folder for folder in (wrapper_folder(),) if folder]  # Slicer's own grow-cut filter
        env["PYTHONPATH"] = os.pathsep.join([*here, *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]])
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start(self) -> "Job":
        """Start the process (as ``slicer.util.launchConsoleProcess`` does, in a process group of its own)."""
        kwargs = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if os.name == "nt" else {"start_new_session": True}
        self.process = subprocess.Popen(self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        encoding="utf-8", errors="replace", env=self.environment(), cwd=str(self.folder),
                                        **kwargs)
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    @property
    def running(self) -> bool:
        return self.process is not None and (self.process.poll() is None or not self._drained)

    _drained = False

    def poll(self) -> List[Event]:
        """The events printed since the last call (never blocks); kills a cancelled step past its grace."""
        events = []
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is None:
                self._drained = True
                break
            event = parse_line(line)
            if event.kind == "error":
                self.error = event.text
            events.append(event)
        if self._cancel_time is not None and self.process.poll() is None \
                and time.monotonic() - self._cancel_time > GRACE_SECONDS:
            self.kill()
        return events

    def cancel(self) -> None:
        """Ask the step to stop; it is killed if it has not after :data:`GRACE_SECONDS`."""
        self.cancelled = True
        if self._cancel_time is None:
            self._cancel_time = time.monotonic()
            self.cancel_file.touch()

    def kill(self) -> None:
        """End the process and its children now."""
        if self.process is None or self.process.poll() is not None:
            return
        if os.name == "nt":
            subprocess.run(["taskkill", "/F", "/T", "/PID", str(self.process.pid)], capture_output=True)
        else:
            try:
                os.killpg(os.getpgid(self.process.pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()

    def wait(self, timeout: float | None = None, on_event=None) -> int:
        """Block until the process ends (``on_event(event)`` for each line); returns its exit status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.running:
            for event in self.poll():
                if on_event:
                    on_event(event)
            if deadline is not None and time.monotonic() > deadline:
                self.kill()
                raise TimeoutError(f"{self.step} did not finish in {timeout} s")
            time.sleep(0.05)
        for event in self.poll():
            if on_event:
                on_event(event)
        return self.process.returncode

    # --- the result ---------------------------------------------------------------------------------

    def finish(self, progress=None):
        """After the process ended: its outputs as nodes (the logic method's return value).

        Raises :class:`Cancelled` after a cancel, the step's :class:`MedSegError` (one line), or a
        MedSegError naming the exit status when the process failed otherwise.
        """
        code = self.process.returncode
        try:
            if self.cancelled or code == EXIT_CANCELLED:
                raise Cancelled("cancelled by the user")
            if code == EXIT_ERROR:
                raise MedSegError(self.error or f"{self.step} failed")
            if code != 0:
                raise MedSegError(f"{self.step} failed in its background process (exit status {code}); see the log")
            return self.logic.addOutputs(load_outputs(self.folder), self.volumeNode, self.segmentationNode,
                                         self.tableNode, self.closedSurface, progress)
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def start(logic, step: str, volumeNode, options: dict, **kwargs) -> Job:
    """Write the inputs of ``step`` (a name of :data:`medseg.mrml.compute.STEPS`) and start it; see :class:`Job`."""
    return Job(logic, step, volumeNode, options, **kwargs).start()


def run(logic, step: str, volumeNode, options: dict, timeout: float | None = None, on_event=None, **kwargs):
    """:func:`start`, wait, :meth:`Job.finish`: the step in a background process, blocking (console, tests)."""
    job = start(logic, step, volumeNode, options, **kwargs)
    job.wait(timeout, on_event)
    return job.finish()


__all__ = ["Event", "GRACE_SECONDS", "Job", "parse_line", "python_executable", "run", "start"]
