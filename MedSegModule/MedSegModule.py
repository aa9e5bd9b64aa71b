"""MedSeg: CT segmentation in 3D Slicer.

A thin Qt layer: the widget binds MedSegModule.ui to a parameter node and calls
``medseg.mrml.logic.MedSegLogic``, which does the work. medseg is imported inside functions
only, so Slicer loads this module before medseg's extra dependencies are installed; they are
installed on first use, after asking (``medseg.mrml.install``).
"""

import pathlib
import tempfile
from typing import Annotated

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from MedSegWidgets.runner import StepRunner
from MedSegWidgets.sampledata import registerSampleData


class MedSegModule(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "MedSeg"
        self.parent.categories = ["Segmentation"]
        self.parent.dependencies = []
        self.parent.contributors = ["MedSeg developers"]
        self.parent.helpText = (
            "Turns CT DICOM studies into segmentations: DICOM to Hounsfield units, table and headrest "
            "removal, lungs and classical auto-labels, U-Net inference, radiomics, segment statistics and "
            "surface meshes. The same logic runs from the Python console: "
            "<code>from medseg.mrml.logic import MedSegLogic</code>. "
            'See <a href="https://github.com/medseg/SlicerMedSeg">the project page</a>.'
        )
        self.parent.acknowledgementText = (
            "MedSeg is built on 3D Slicer, SimpleITK, pydicom, scikit-image, PyTorch and pyradiomics."
        )
        slicer.app.connect("startupCompleted()", registerSampleData)


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
    device: Annotated[str, Choice(["auto", "cpu", "cuda"])] = "auto"
    radiomicsPreset: Annotated[str, Choice(["ct-default", "ct-baseline", "ct-wavelet-log"])] = "ct-default"
    radiomicsTable: vtkMRMLTableNode
    meshSmoothing: Annotated[int, WithinRange(0, 100)] = 10


class MedSegModuleWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None
        self.runner = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/MedSegModule.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.runner = StepRunner(self.ui)
        self.logic = MedSegModuleLogic()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        actions = {
            self.ui.loadDicomButton: self.onLoadDicom, self.ui.checkHUButton: self.onCheckHU,
            self.ui.applyWindowButton: self.onApplyWindow, self.ui.resampleButton: self.onResample,
            self.ui.cleanButton: self.onClean, self.ui.lungsButton: self.onLungs,
            self.ui.autolabelButton: self.onAutolabel, self.ui.runUNetButton: self.onRunUNet,
            self.ui.radiomicsButton: self.onRadiomics, self.ui.statisticsButton: self.onStatistics,
            self.ui.meshesButton: self.onMeshes,
        }
        for button, action in actions.items():
            button.connect("clicked(bool)", lambda _checked=False, action=action: action())
        self.ui.modelFolderPathLineEdit.connect("currentPathChanged(QString)", lambda _path: self._refreshModels())
        self.initializeParameterNode()
        self._refreshModels()

    def cleanup(self):
        self.removeObservers()

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event):
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
        folder = p.dicomFolder if p else None
        # An unset pathlib.Path reads as "." -- not a folder the user chose.
        self.ui.loadDicomButton.enabled = folder is not None and str(folder) not in ("", ".") and folder.is_dir()
        volume, segmentation = (p.inputVolume, p.segmentation) if p else (None, None)
        for button in (self.ui.checkHUButton, self.ui.applyWindowButton, self.ui.resampleButton, self.ui.cleanButton,
                       self.ui.lungsButton, self.ui.autolabelButton, self.ui.runUNetButton):
            button.enabled = volume is not None
        for button in (self.ui.radiomicsButton, self.ui.statisticsButton):
            button.enabled = volume is not None and segmentation is not None
        self.ui.meshesButton.enabled = segmentation is not None

    def _refreshModels(self):
        from medseg.mrml.logic import list_models

        folder = self.ui.modelFolderPathLineEdit.currentPath
        self.ui.modelComboBox.clear()
        for name, path in list_models(folder or None).items():
            self.ui.modelComboBox.addItem(name, str(path))
        self.ui.runUNetButton.toolTip = "Run the chosen model." if self.ui.modelComboBox.count else \
            "No model found: choose a folder of trained models (model.pt + model.json each)."

    def _run(self, what, method, *args, **kwargs):
        return self.runner.run(what, getattr(self.logic.logic, method), *args, **kwargs)

    def _showSegmentation(self, node):
        if node is not None:
            self._parameterNode.segmentation = node
            slicer.util.setSliceViewerLayers(background=self._parameterNode.inputVolume)

    def onLoadDicom(self):
        volume = self._run("Loading DICOM", "convertDicom", str(self._parameterNode.dicomFolder), features=("core", "dicom"))
        if volume is not None:
            self._parameterNode.inputVolume = volume
            slicer.util.setSliceViewerLayers(background=volume, fit=True)
            self.ui.statusLabel.text += "".join("\n" + w for w in [volume.GetAttribute("MedSeg.Warnings")] if w)

    def onCheckHU(self):
        self._run("HU check", "checkHounsfield", self._parameterNode.inputVolume)

    def onApplyWindow(self):
        self._run("Window", "setWindow", self._parameterNode.inputVolume, self._parameterNode.window)

    def onResample(self):
        p = self._parameterNode
        p.inputVolume = self._run("Resampling", "resampleVolume", p.inputVolume, p.resampleSpacing) or p.inputVolume

    def onClean(self):
        p = self._parameterNode
        cleaned, segmentation = self._run("Removing the table", "removeTable", p.inputVolume, force=p.force) or (None, None)
        p.inputVolume = cleaned or p.inputVolume
        self._showSegmentation(segmentation)

    def onLungs(self):
        p = self._parameterNode
        self._showSegmentation(self._run("Lungs", "segmentLungs", p.inputVolume, split=p.splitLungs, force=p.force))

    def onAutolabel(self):
        self._showSegmentation(self._run("Auto-label", "autolabel", self._parameterNode.inputVolume,
                                         force=self._parameterNode.force))

    def onRunUNet(self):
        model = self.ui.modelComboBox.currentData or self.ui.modelComboBox.currentText
        self._showSegmentation(self._run("U-Net", "runUNet", self._parameterNode.inputVolume, model,
                                         device=self._parameterNode.device, features=("core", "unet")))

    def onRadiomics(self):
        p = self._parameterNode
        table = self._run("Radiomics", "exportRadiomics", p.inputVolume, p.segmentation, preset=p.radiomicsPreset,
                          tableNode=p.radiomicsTable, features=("core", "radiomics"))
        if table is not None:
            p.radiomicsTable = table
            slicer.util.showTable(table)

    def onStatistics(self):
        table = self._run("Statistics", "segmentStatistics", self._parameterNode.inputVolume, self._parameterNode.segmentation)
        if table is not None:
            slicer.util.showTable(table)

    def onMeshes(self):
        self._run("Meshes", "exportMeshes", self._parameterNode.segmentation, smoothIterations=self._parameterNode.meshSmoothing)


class MedSegModuleLogic(ScriptedLoadableModuleLogic):
    """Slicer-side logic: the parameter node, and ``self.logic``, a MedSegLogic on ``slicer.mrmlScene``."""

    def __init__(self):
        ScriptedLoadableModuleLogic.__init__(self)
        from medseg.mrml.logic import MedSegLogic

        self.logic = MedSegLogic(slicer.mrmlScene, slicer.app.applicationLogic())

    def getParameterNode(self):
        return MedSegModuleParameterNode(super().getParameterNode())


class MedSegModuleTest(ScriptedLoadableModuleTest):
    """Runs medseg.mrml.selftest: every logic method on a generated chest phantom, checked against its truth."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_selftest()

    def test_selftest(self):
        from medseg.mrml.logic import MedSegLogic
        from medseg.mrml.selftest import run_selftest

        folder = tempfile.mkdtemp(prefix="MedSegSelfTest-", dir=slicer.app.temporaryPath)
        results = run_selftest(MedSegLogic(slicer.mrmlScene, slicer.app.applicationLogic()), folder, log=self.delayDisplay)
        failed = [f"{r.name}: {r.error}" for r in results if not r.ok]
        self.assertEqual(failed, [], "self-test steps failed:\n" + "\n".join(failed))
        self.delayDisplay(f"MedSeg self-test passed ({len(results)} steps)")
