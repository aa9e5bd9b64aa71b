"""Run MedSegLogic steps from the panel: the log, the progress bar, Cancel, dependencies, errors.

Short steps run here (``runNow``); long ones (``runInBackground``) run in a background process
(``medseg.mrml.background``) polled by a QTimer, so Slicer stays responsive. While a step runs,
every step button is disabled; Cancel, leaving the module or closing the scene stops it, and the
scene is left as it was.
"""

import threading

import qt
import slicer

#: How often the background step's output is read (ms).
POLL_MS = 100


class StepRunner:
    """Drives ``logTextEdit``, ``progressBar`` and ``cancelButton`` around the logic's steps.

    stepButtons: the buttons disabled while a step runs. onIdle(): called when a step ends (the
    widget enables its buttons again from its parameter node).
    """

    def __init__(self, ui, stepButtons, onIdle):
        self.ui, self.stepButtons, self.onIdle = ui, list(stepButtons), onIdle
        self.cancelEvent = threading.Event()
        self.job = None
        self.timer = qt.QTimer()
        self.timer.setInterval(POLL_MS)
        self.timer.connect("timeout()", self._poll)
        self._what, self._onDone = "", None
        self.ui.progressBar.hide()
        self.ui.cancelButton.enabled = False
        self.ui.cancelButton.connect("clicked(bool)", lambda _checked=False: self.cancel())

    @property
    def busy(self):
        return self.job is not None or self.ui.cancelButton.enabled

    def log(self, text):
        self.ui.logTextEdit.appendPlainText(text)

    def progress(self, fraction, message):
        """The ``progress(fraction, message)`` callback of in-process steps."""
        self.ui.progressBar.value = int(round(100 * fraction))
        if message:
            self.log(f"  {message}")
        slicer.app.processEvents()  # keeps Cancel responsive during short in-process steps

    def _begin(self, what):
        self.log(f"{what} ...")
        self.ui.progressBar.value = 0
        self.ui.progressBar.show()
        self.ui.cancelButton.enabled = True
        for button in self.stepButtons:
            button.enabled = False

    def _end(self):
        self.ui.progressBar.hide()
        self.ui.cancelButton.enabled = False
        self.onIdle()

    def _ensure(self, needs):
        from medseg.mrml import install

        install.ensure(needs)

    def runNow(self, what, method, *args, needs=(), **kwargs):
        """``method(*args, progress=..., cancel=..., **kwargs)`` here; its result, or None if it failed.

        needs: the distributions to make sure of first (``MedSegLogic.NEEDS``). Errors are shown
        by ``slicer.util.tryWithErrorDisplay`` and logged; a cancelled step only says so.
        """
        from medseg.errors import Cancelled

        self.cancelEvent = threading.Event()
        self._begin(what)
        try:
            with slicer.util.tryWithErrorDisplay(f"{what} failed.", waitCursor=True):
                self._ensure(needs)
                try:
                    result = method(*args, progress=self.progress, cancel=self.cancelEvent, **kwargs)
                except Cancelled:  # not an error: no dialog
                    self.log(f"{what}: cancelled; the scene is as it was.")
                    return None
                self.log(f"{what}: done.")
                return result
        except Exception as exc:  # shown, with details, by tryWithErrorDisplay
            self.log(f"{what} failed: {exc}")
        finally:
            self._end()
        return None

    def runInBackground(self, what, logic, step, volumeNode, options, onDone, needs=(), **jobOptions):
        """Start ``step`` (``medseg.mrml.compute.STEPS``) in a background process; returns at once.

        onDone(result) is called with what the logic method would return, once the outputs are in
        the scene. jobOptions: segmentationNode, segments, tableNode, closedSurface.
        """
        from medseg.mrml import background

        if self.busy:
            self.log(f"{what}: another step is running; wait for it or cancel it.")
            return
        self._begin(what)
        try:
            with slicer.util.tryWithErrorDisplay(f"{what} failed.", waitCursor=True):
                self._ensure(needs)
                self.job = background.start(logic, step, volumeNode, options, **jobOptions)
        except Exception as exc:
            self.log(f"{what} failed: {exc}")
            self.job = None
            self._end()
            return
        self._what, self._onDone = what, onDone
        self.log(f"  running in a background process ({self.job.command[0]})")
        self.timer.start()

    def _poll(self):
        from medseg.errors import Cancelled

        job = self.job
        if job is None:
            self.timer.stop()
            return
        for event in job.poll():
            if event.kind == "progress":
                self.ui.progressBar.value = int(round(100 * event.fraction))
            if event.text and event.kind != "error":
                self.log(f"  {event.text}")
        if job.running:
            return
        self.timer.stop()
        self.job = None
        try:
            with slicer.util.tryWithErrorDisplay(f"{self._what} failed.", waitCursor=True):
                try:
                    result = job.finish(progress=lambda _f, m: self.log(f"  {m}") if m else None)
                except Cancelled:  # not an error: no dialog
                    self.log(f"{self._what}: cancelled; the scene is as it was.")
                    return
                self.log(f"{self._what}: done.")
                self._onDone(result)
        except Exception as exc:
            self.log(f"{self._what} failed: {exc}")
        finally:
            self._end()

    def cancel(self):
        """Stop the running step: the background process is asked to stop, then killed; nothing is added."""
        self.cancelEvent.set()
        if self.job is not None:
            self.log(f"{self._what}: cancelling ...")
            self.job.cancel()

    def stop(self):
        """Cancel and wait for the end (leaving the module, closing the scene): no result is added."""
        if self.job is None:
            self.cancelEvent.set()
            return
        job, self.job = self.job, None
        self.timer.stop()
        job.cancel()
        job.kill()
        job.cleanup()
        self.log(f"{self._what}: cancelled; the scene is as it was.")
        self._end()
