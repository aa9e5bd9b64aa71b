"""The panel's sections that hold state beyond their buttons: the model lists, Grow from seeds and Classify volume.

Each section reads the widget's parameter node and starts its step through the widget's StepRunner,
in a background process (the GUI thread only moves the inputs out of the scene and the outputs in).
"""

import json

import slicer


def fillModels(comboBox, folder, kind, button, found, empty):
    """List the catalogue's models of ``kind`` ("unet", "classifier") in ``comboBox`` (data: the folder)."""
    from medseg.mrml.logic import list_models

    comboBox.clear()
    for name, entry in list_models(folder or None, kind=kind).items():
        comboBox.addItem(name, str(entry.folder))
    button.toolTip = found if comboBox.count else empty


def refreshModels(widget):
    """The U-Net list (U-Nets only) and the classifier list (classifiers only), each from its folder."""
    ui = widget.ui
    fillModels(ui.modelComboBox, ui.modelFolderPathLineEdit.currentPath, "unet", ui.runUNetButton,
               "Run the chosen model.", "No U-Net found: choose a folder of trained models (model.pt + model.json each).")
    widget.classify.refreshModels()


def chosenModel(comboBox) -> str:
    return str(comboBox.currentData or comboBox.currentText)


class GrowSection:
    """Grow from seeds: the seed segmentation, the editable intensity range and the smoothing.

    The range is set to the input volume's (min, max) whenever the input volume changes; a range
    covering the whole volume masks nothing and is passed as none (the grow region then keeps
    Slicer's unmasked margin). The result gets no 3D surface, as with the Segment Editor's effect
    (its "Show 3D" builds one): on a large volume that would hold the GUI thread for seconds.
    """

    def __init__(self, widget):
        self.widget = widget

    def update(self, p):
        volume = p.inputVolume
        if volume is not None and p.growRangeVolumeID != volume.GetID():
            full = self.widget.logic.medseg.intensityRange(volume)
            if full is not None:
                p.growRangeVolumeID = volume.GetID()  # first: each assignment below comes back here
                p.growRangeLow, p.growRangeHigh = full
        self.widget.ui.growButton.enabled = volume is not None and p.seedSegmentation is not None and \
            p.growRangeLow < p.growRangeHigh

    def openSegmentEditor(self):
        slicer.util.selectModule("SegmentEditor")

    def run(self):
        w, p = self.widget, self.widget._parameterNode
        logic = w.logic.medseg
        full = logic.intensityRange(p.inputVolume)
        chosen = (p.growRangeLow, p.growRangeHigh)
        masks = full is None or chosen[0] > full[0] or chosen[1] < full[1]
        options = logic.growOptions(chosen if masks else None, p.growSmooth)
        w.runner.runInBackground("Grow from seeds", logic, "growFromSeeds", p.inputVolume, options, w._showSegmentation,
                                 needs=logic.growBackgroundNeeds(), segmentationNode=p.seedSegmentation,
                                 closedSurface=False)


def describeClassification(result) -> str:
    """One line for the panel: both probabilities, the verdict, the model; then any warnings."""
    text = (f"normal {result['normal']:.3f}, abnormal {result['abnormal']:.3f}: {result['label']}"
            f" (model {result.get('model') or '?'})")
    return "\n".join([text, *(f"warning: {w}" for w in result.get("warnings", []))])


class ClassifySection:
    """Classify volume: classifiers only in its list, its own volume, the probabilities shown in the panel."""

    NOT_YET = "Not classified yet."

    def __init__(self, widget):
        self.widget = widget

    def refreshModels(self):
        ui = self.widget.ui
        fillModels(ui.classifierComboBox, ui.classifierFolderPathLineEdit.currentPath, "classifier", ui.classifyButton,
                   "Classify the volume with the chosen classifier.",
                   "No classifier found: choose a folder of classifiers (medseg classify-train; model.pt + model.json each).")
        if self.widget._parameterNode is not None and not self.widget.runner.busy:
            self.update(self.widget._parameterNode)

    def update(self, p):
        ui = self.widget.ui
        if p.classifyVolume is None and p.inputVolume is not None:
            p.classifyVolume = p.inputVolume  # comes back here through the parameter node's ModifiedEvent
            return
        ui.classifyButton.enabled = p.classifyVolume is not None and ui.classifierComboBox.count > 0
        saved = p.classifyVolume.GetAttribute("MedSeg.Classification") if p.classifyVolume is not None else None
        try:
            ui.classifyResultLabel.text = describeClassification(json.loads(saved)) if saved else self.NOT_YET
        except (ValueError, KeyError, TypeError):  # an attribute edited by hand: not ours to show
            ui.classifyResultLabel.text = self.NOT_YET

    def run(self):
        w, p = self.widget, self.widget._parameterNode
        logic = w.logic.medseg
        w.runner.runInBackground("Classify", logic, "classify", p.classifyVolume,
                                 {"model": chosenModel(w.ui.classifierComboBox), "device": p.device}, self.show,
                                 needs=logic.NEEDS["classify"])

    def show(self, result):
        text = describeClassification(result)
        self.widget.ui.classifyResultLabel.text = text
        self.widget.runner.log(f"  {text}")
