"""MedSeg: CT segmentation in 3D Slicer 5.8, 5.10 and 5.12. A thin Qt layer over ``medseg.mrml.logic.MedSegLogic``;
long steps run in a background process (MedSegWidgets.runner). medseg is imported inside functions only, so
Slicer loads this module before medseg's dependencies are there; each step installs what it needs, after asking.
"""

import pathlib
import tempfile
from typing import Annotated

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (ScriptedLoadableModule, ScriptedLoadableModuleLogic,
                                           ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget)
from slicer.util import VTKObservationMixin

from MedSegWidgets.runner import StepRunner
from MedSegWidgets.sampledata import registerSampleData
from MedSegWidgets.sections import ClassifySection, GrowSection, chosenModel, refreshModels
from MedSegWidgets.views import onStartupCompleted, showTable


class MedSegModule(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title, self.parent.categories, self.parent.dependencies = "MedSeg", ["Segmentation"], []
        self.parent.contributors = ["MedSeg maintainers (MedSeg project)"]
        self.parent.helpText = (
            "Turns CT DICOM studies into segmentations: DICOM to Hounsfield units, table and headrest removal, lungs "
            "and classical auto-labels, grow from seeds, U-Net inference, a normal/abnormal volume classifier, "
            "radiomics, segment statistics and surface meshes. The same logic runs from the Python console: "
            '<code>from medseg.mrml.logic import MedSegLogic</code>. See <a href="https://github.com/medseg/SlicerMedSeg">'
            "the project page</a>.")
        self.parent.acknowledgementText = "Built on 3D Slicer, SimpleITK, pydicom, scikit-image, PyTorch and pyradiomics."
        if hasattr(slicer.modules, "sampledata"):  # loaded after start-up (Extension Wizard, module paths)
            onStartupCompleted()
        else:
            slicer.app.connect("startupCompleted()", onStartupCompleted)


@parameterNodeWrapper
class MedSegModuleParameterNode:
    """The module's state, saved with the scene (the .ui's tooltips say what each field is; spacing in mm)."""

    inputVolume: vtkMRMLScalarVolumeNode
    segmentation: vtkMRMLSegmentationNode
    dicomFolder: pathlib.Path
    outputFolder: pathlib.Path
    window: Annotated[str, Choice(["mediastinum", "lung", "bone", "abdomen", "brain"])] = "mediastinum"
    resampleSpacing: Annotated[float, WithinRange(0.1, 10.0)] = 1.0
    force: bool = False
    splitLungs: bool = True
    modelFolder: pathlib.Path
    device: Annotated[str, Choice(["auto", "cpu", "cuda", "mps"])] = "auto"
    radiomicsPreset: Annotated[str, Choice(["ct-default", "ct-baseline", "ct-wavelet-log"])] = "ct-default"
    radiomicsTable: vtkMRMLTableNode
    meshSmoothing: Annotated[int, WithinRange(0, 100)] = 10
    seedSegmentation: vtkMRMLSegmentationNode
    growRangeLow: float = -1024.0
    growRangeHigh: float = 3071.0
    growRangeVolumeID: str = ""  # the volume the range was last set from
    growSmooth: Annotated[str, Choice(["median", "closing", "none"])] = "median"
    classifyVolume: vtkMRMLScalarVolumeNode
    classifierFolder: pathlib.Path


class MedSegModuleWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = self._parameterNode = self._parameterNodeGuiTag = self.runner = None
        self.grow, self.classify = GrowSection(self), ClassifySection(self)

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/MedSegModule.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = MedSegModuleLogic()
        ui = self.ui
        actions = {
            ui.loadDicomButton: self.onLoadDicom, ui.checkHUButton: self.onCheckHU, ui.applyWindowButton: self.onApplyWindow,
            ui.resampleButton: self.onResample, ui.cleanButton: self.onClean, ui.lungsButton: self.onLungs,
            ui.autolabelButton: self.onAutolabel, ui.runUNetButton: self.onRunUNet, ui.radiomicsButton: self.onRadiomics,
            ui.statisticsButton: self.onStatistics, ui.meshesButton: self.onMeshes, ui.growButton: self.grow.run,
            ui.classifyButton: self.classify.run,
        }
        self.runner = StepRunner(ui, actions, self._updateButtons)
        for button, action in actions.items():
            button.connect("clicked(bool)", lambda _checked=False, action=action: action())
        for folder in (ui.modelFolderPathLineEdit, ui.classifierFolderPathLineEdit):
            folder.connect("currentPathChanged(QString)", lambda _path: refreshModels(self))
        ui.segmentEditorButton.connect("clicked(bool)", lambda _checked=False: self.grow.openSegmentEditor())
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        registerSampleData()
        self.initializeParameterNode()
        refreshModels(self)

    def _stop(self):
        if self.runner:
            self.runner.stop()  # the running step is cancelled; nothing is added to the scene

    def cleanup(self):
        self._stop()
        self.removeObservers()

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        self.onSceneStartClose(None, None)

    def onSceneStartClose(self, caller, event):
        self._stop()
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event):
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self):
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:
            self._parameterNode.inputVolume = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")

    def setParameterNode(self, parameterNode):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)
            self._updateButtons()

    def _updateButtons(self, caller=None, event=None):
        p = self._parameterNode
        if self.runner.busy or p is None:
            return
        # An unset pathlib.Path reads as "." -- not a folder the user chose.
        self.ui.loadDicomButton.enabled = str(p.dicomFolder) not in ("", ".") and p.dicomFolder.is_dir()
        for button in (self.ui.checkHUButton, self.ui.applyWindowButton, self.ui.resampleButton, self.ui.cleanButton,
                       self.ui.lungsButton, self.ui.autolabelButton, self.ui.runUNetButton):
            button.enabled = p.inputVolume is not None
        self.ui.radiomicsButton.enabled = self.ui.statisticsButton.enabled = p.inputVolume is not None and \
            p.segmentation is not None
        self.ui.meshesButton.enabled = p.segmentation is not None
        self.grow.update(p)
        self.classify.update(p)

    def _now(self, what, method, *args, **kwargs):
        return self.runner.runNow(what, getattr(self.logic.medseg, method), *args,
                                  needs=self.logic.medseg.NEEDS[method], **kwargs)

    def _background(self, what, step, options, onDone, **jobOptions):
        self.runner.runInBackground(what, self.logic.medseg, step, self._parameterNode.inputVolume, options, onDone,
                                    needs=self.logic.medseg.NEEDS[step], **jobOptions)

    def _showSegmentation(self, node):
        self._parameterNode.segmentation = node
        slicer.util.setSliceViewerLayers(background=self._parameterNode.inputVolume)

    def onLoadDicom(self):
        volume = self._now("Loading DICOM", "convertDicom", str(self._parameterNode.dicomFolder))
        if volume is not None:
            self._parameterNode.inputVolume = volume
            slicer.util.setSliceViewerLayers(background=volume, fit=True)
            for warning in filter(None, (volume.GetAttribute("MedSeg.Warnings") or "").split("\n")):
                self.runner.log(f"  warning: {warning}")

    def onCheckHU(self):
        self._now("HU check", "checkHounsfield", self._parameterNode.inputVolume)

    def onApplyWindow(self):
        self._now("Window", "setWindow", self._parameterNode.inputVolume, self._parameterNode.window)

    def onResample(self):
        p = self._parameterNode
        p.inputVolume = self._now("Resampling", "resampleVolume", p.inputVolume, p.resampleSpacing) or p.inputVolume

    def onClean(self):
        def done(nodes):
            self._parameterNode.inputVolume = nodes[0]
            self._showSegmentation(nodes[1])
        self._background("Removing the table", "removeTable", {"force": self._parameterNode.force}, done,
                         closedSurface=False)

    def onLungs(self):
        p = self._parameterNode
        self._background("Lungs", "segmentLungs", {"split": p.splitLungs, "force": p.force}, self._showSegmentation)

    def onAutolabel(self):
        self._background("Auto-label", "autolabel", {"force": self._parameterNode.force}, self._showSegmentation)

    def onRunUNet(self):
        self._background("U-Net", "runUNet", {"model": chosenModel(self.ui.modelComboBox),
                                              "device": self._parameterNode.device}, self._showSegmentation)

    def onRadiomics(self):
        p = self._parameterNode

        def done(table):
            p.radiomicsTable = table
            showTable(table)
        self._background("Radiomics", "exportRadiomics", {"preset": p.radiomicsPreset}, done,
                         segmentationNode=p.segmentation, segments=self.logic.medseg.radiomicsSegments(p.segmentation),
                         tableNode=p.radiomicsTable)

    def onStatistics(self):
        showTable(self._now("Statistics", "segmentStatistics", self._parameterNode.inputVolume,
                            self._parameterNode.segmentation))

    def onMeshes(self):
        self._now("Meshes", "exportMeshes", self._parameterNode.segmentation, smoothIterations=self._parameterNode.meshSmoothing)


class MedSegModuleLogic(ScriptedLoadableModuleLogic):
    """Slicer-side logic: the parameter node, and ``self.medseg``, a MedSegLogic on ``slicer.mrmlScene``."""

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        from medseg.mrml.logic import MedSegLogic

        self.medseg = MedSegLogic(slicer.mrmlScene, slicer.app.applicationLogic())

    def getParameterNode(self):
        return MedSegModuleParameterNode(super().getParameterNode())


class MedSegModuleTest(ScriptedLoadableModuleTest):
    """medseg.mrml.selftest: every logic method on a generated chest phantom, checked against its truth.
    A step whose packages are missing is installed first, or skipped (saying why) under --testing."""

    def runTest(self):
        slicer.mrmlScene.Clear()
        self.test_selftest()

    def test_selftest(self):
        from medseg.mrml.logic import MedSegLogic
        from medseg.mrml.selftest import run_selftest, summary

        folder = tempfile.mkdtemp(prefix="MedSegSelfTest-", dir=slicer.app.temporaryPath)
        results = summary(run_selftest(MedSegLogic(slicer.mrmlScene, slicer.app.applicationLogic()), folder,
                                       log=self.delayDisplay))
        self.assertEqual(results["failed"], {}, "self-test steps failed")
        self.delayDisplay(f"MedSeg self-test: {len(results['ok'])} passed, {len(results['skipped'])} skipped")
