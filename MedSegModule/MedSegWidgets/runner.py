"""Run one MedSegLogic step from the panel: progress bar, status text, Cancel, dependencies, errors."""

import threading

import slicer


class StepRunner:
    """Drives the panel's ``progressBar``, ``statusLabel`` and ``cancelButton`` around logic calls.

    The steps run on the main thread (MRML nodes must be made there); the progress callback
    processes Qt events, so a click on Cancel sets the event the step checks between its stages.
    """

    def __init__(self, ui):
        self.ui = ui
        self.cancel = threading.Event()
        self.ui.progressBar.hide()
        self.ui.cancelButton.enabled = False
        self.ui.cancelButton.connect("clicked(bool)", lambda _checked=False: self.cancel.set())

    def progress(self, fraction, message):
        """The ``progress(fraction, message)`` callback given to every logic method."""
        self.ui.progressBar.value = int(round(100 * fraction))
        if message:
            self.ui.statusLabel.text = message
        slicer.app.processEvents()  # keeps the Cancel button responsive during long steps

    def run(self, what, method, *args, features=("core",), **kwargs):
        """Call ``method(*args, progress=..., cancel=..., **kwargs)``; returns its result, or None if it failed.

        what: the step's name in the status text. features: medseg dependency features to
        make sure of first (``medseg.mrml.install.FEATURES``; installed after asking).
        Errors are shown by ``slicer.util.tryWithErrorDisplay``; a cancelled step only says so.
        """
        from medseg.errors import Cancelled
        from medseg.mrml import install as dependencies

        self.cancel = threading.Event()
        self.ui.statusLabel.text = f"{what} ..."
        self.ui.progressBar.value = 0
        self.ui.progressBar.show()
        self.ui.cancelButton.enabled = True
        try:
            with slicer.util.tryWithErrorDisplay(f"{what} failed.", waitCursor=True):
                dependencies.ensure(features)
                try:
                    result = method(*args, progress=self.progress, cancel=self.cancel, **kwargs)
                except Cancelled:
                    self.ui.statusLabel.text = f"{what}: cancelled; the scene is as it was."
                    return None
                self.ui.statusLabel.text = f"{what}: done. {self.ui.statusLabel.text}"
                return result
        except Exception as exc:  # already shown, with details, by tryWithErrorDisplay
            self.ui.statusLabel.text = f"{what} failed: {exc}"
            return None
        finally:
            self.ui.progressBar.hide()
            self.ui.cancelButton.enabled = False
