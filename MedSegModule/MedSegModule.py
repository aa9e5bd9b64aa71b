"""MedSeg: CT segmentation in 3D Slicer.

A thin Qt layer: the widget binds MedSegModule.ui to a parameter node and calls the logic, and the
work is done by MedSegLib. MedSegLib is imported inside functions only, so that Slicer can load this
module even when the library's extra dependencies are not installed yet.
"""

import logging
import pathlib

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.parameterNodeWrapper import parameterNodeWrapper
from slicer.util import VTKObservationMixin


class MedSegModule(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "MedSeg"
        self.parent.categories = ["Segmentation"]
        self.parent.dependencies = []
        self.parent.contributors = ["MedSeg developers"]
        self.parent.helpText = (
            "Turns CT DICOM studies into segmentations: DICOM to Hounsfield units, table and headrest "
            "removal, classical auto-labels, U-Net inference, radiomics, meshes and metrics. "
            'See <a href="https://github.com/medseg/SlicerMedSeg">the project page</a>.'
        )
        self.parent.acknowledgementText = (
            "MedSeg is built on 3D Slicer, SimpleITK, pydicom, PyTorch and pyradiomics."
        )


@parameterNodeWrapper
class MedSegModuleParameterNode:
    """The module's state, saved with the scene.

    inputVolume - the CT volume to work on.
    dicomFolder - a DICOM folder to load as HU.
    outputFolder - where pipeline outputs are written.
    """

    inputVolume: vtkMRMLScalarVolumeNode
    dicomFolder: pathlib.Path
    outputFolder: pathlib.Path


class MedSegModuleWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/MedSegModule.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.ui.progressBar.hide()

        self.logic = MedSegModuleLogic()
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.loadDicomButton.connect("clicked(bool)", self.onLoadDicomButton)
        self.initializeParameterNode()

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
        folder = self._parameterNode.dicomFolder if self._parameterNode else None
        # An unset pathlib.Path reads as "." -- not a folder the user chose.
        usable = folder is not None and str(folder) not in ("", ".") and folder.is_dir()
        self.ui.loadDicomButton.enabled = usable
        self.ui.loadDicomButton.toolTip = (
            "Load the DICOM folder as a volume in Hounsfield units." if usable else "Choose a DICOM folder first."
        )

    def _onProgress(self, fraction, message):
        self.ui.progressBar.value = int(round(100 * fraction))
        if message:
            self.ui.statusLabel.text = message
        slicer.app.processEvents()

    def onLoadDicomButton(self):
        folder = self._parameterNode.dicomFolder
        self.ui.statusLabel.text = f"Loading {folder} ..."
        self.ui.progressBar.value = 0
        self.ui.progressBar.show()
        try:
            with slicer.util.tryWithErrorDisplay(f"Could not load {folder}.", waitCursor=True):
                volumeNode, meta = self.logic.convertDicom(folder, progress=self._onProgress)
        except Exception as exc:  # already shown to the user, with details, by tryWithErrorDisplay
            self.ui.statusLabel.text = f"Loading failed: {exc}"
            return
        finally:
            self.ui.progressBar.hide()
        self._parameterNode.inputVolume = volumeNode
        slicer.util.setSliceViewerLayers(background=volumeNode, fit=True)
        values = "HU" if meta.get("is_hu") else "modality-LUT values, not HU"
        warnings = "".join(f"\n{w}" for w in meta.get("warnings", []))
        self.ui.statusLabel.text = f"Loaded {volumeNode.GetName()} ({meta.get('modality')}, {values}).{warnings}"


class MedSegModuleLogic(ScriptedLoadableModuleLogic):
    """Slicer-side logic. A later step moves the work into MedSegLib.mrml.logic.MedSegLogic(scene)."""

    def getParameterNode(self):
        return MedSegModuleParameterNode(super().getParameterNode())

    def convertDicom(self, folder, series=None, progress=None, cancel=None):
        """Load a DICOM folder (or file) as a volume node in HU; returns (node, metadata).

        The largest CT series is chosen unless ``series`` gives a SeriesInstanceUID.
        """
        import sitkUtils
        from MedSegLib.io import load

        image, meta = load(folder, series=series, progress=progress, cancel=cancel)
        baseName = meta.get("series_description") or pathlib.Path(folder).name or "CT"
        name = slicer.mrmlScene.GenerateUniqueName(baseName)
        volumeNode = sitkUtils.PushVolumeToSlicer(image, name=name, className="vtkMRMLScalarVolumeNode")
        for warning in meta.get("warnings", []):
            logging.warning(f"MedSeg: {warning}")
        return volumeNode, meta


class MedSegModuleTest(ScriptedLoadableModuleTest):
    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_labels()
        self.setUp()
        self.test_parameterNode()

    def test_labels(self):
        from MedSegLib import labels

        self.assertEqual(labels.AIR_HU, -1024)
        table = [(lab.value, lab.name, lab.color) for lab in labels.AUTO_LABELS]
        self.assertEqual(table, [
            (1, "body", (177, 122, 101)),
            (2, "table-headrest", (128, 128, 128)),
            (3, "lung-right", (128, 174, 128)),
            (4, "lung-left", (111, 184, 210)),
            (5, "airway", (216, 101, 79)),
            (6, "bone", (241, 214, 145)),
        ])
        self.delayDisplay("MedSegLib labels OK")

    def test_parameterNode(self):
        parameterNode = MedSegModuleLogic().getParameterNode()
        volumeNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "ct")
        parameterNode.inputVolume = volumeNode
        parameterNode.outputFolder = pathlib.Path(slicer.app.temporaryPath)
        self.assertEqual(MedSegModuleLogic().getParameterNode().inputVolume.GetID(), volumeNode.GetID())
        self.delayDisplay("Parameter node OK")
