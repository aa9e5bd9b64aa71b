"""``MedSegLogic(scene)``: all of MedSeg's Slicer logic, free of Qt, usable from Slicer's Python console.

Each method takes MRML nodes, hands SimpleITK images to a pipeline step (:mod:`medseg.pipeline`)
and puts the result back into the scene as nodes placed beside the input in the subject hierarchy::

    from medseg.mrml.logic import MedSegLogic
    logic = MedSegLogic(slicer.mrmlScene)
    ct = logic.convertDicom("/data/chest/dicom")
    lungs = logic.segmentLungs(ct)
    table = logic.segmentStatistics(ct, lungs)

Every method takes ``progress(fraction, message)`` and ``cancel`` (a ``threading.Event``); a set
event raises :class:`~medseg.errors.Cancelled` and leaves the scene as it was. User mistakes are
:class:`~medseg.errors.MedSegError`s with a one-line message.

The long steps (:data:`medseg.mrml.compute.STEPS`) are three parts: :meth:`MedSegLogic.stepInputs`
(nodes -> images), the step itself (:mod:`.compute`, free of Slicer) and :meth:`MedSegLogic.addOutputs`
(results -> nodes). The methods below run the three in this process; the panel runs the middle one
in a background process (:mod:`.background`). :attr:`MedSegLogic.NEEDS` names the Python packages
each method needs (installed on first use by :mod:`.install`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import SimpleITK as sitk
import slicer

from .. import labels as L
from ..errors import ParameterError
from ..progress import CancelEvent, Progress, check_cancel, report, sub_progress
from ..unet.card import installed_models as list_models  # noqa: F401  (the panel and console use it from here)
from . import scene as S
from .compute import DEVICES, StepInputs, StepOutputs  # noqa: F401  (DEVICES: the panel's choices)
from .install import FEATURES

#: Display window (centre, width) in HU given to CT volumes MedSeg loads: soft tissue.
CT_WINDOW = (40.0, 400.0)


class MedSegLogic:
    """The GUI-free logic on one MRML scene (``slicer.mrmlScene`` in Slicer, a slicer-core scene in tests)."""

    #: Method -> the distributions it imports beyond Slicer's own (names as in pyproject.toml).
    #: The JPEG decoders are asked for with DICOM loading: a compressed series needs them.
    NEEDS = {
        "convertDicom": ("pydicom", "pylibjpeg", "pylibjpeg-openjpeg", "pylibjpeg-libjpeg", "python-gdcm", "pynrrd"),
        "checkHounsfield": (), "setWindow": (), "resampleVolume": (),
        "removeTable": ("scipy",), "segmentLungs": ("scipy",), "autolabel": ("scipy", "scikit-image"),
        "runUNet": ("scipy", "torch"), "exportRadiomics": ("pyradiomics", "pyyaml"),
        "segmentStatistics": ("scipy",), "exportMeshes": ("scipy", "scikit-image"),
        "saveSegmentation": (), "segmentationToLabels": (),
        # In this process grow from seeds runs Slicer's own filter; the panel's background step
        # may need ITK's instead (:func:`growBackgroundNeeds`).
        "growFromSeeds": ("scipy",), "classify": FEATURES["classify"],
    }

    def __init__(self, scene, app_logic=None):
        """``scene``: the vtkMRMLScene to work in. ``app_logic``: the application logic (optional; kept for callers)."""
        self.scene = scene
        self.app_logic = app_logic
        self.lastConversion: dict = {}
        self._colors = None
        if scene.GetNodeByID("vtkMRMLColorTableNodeGrey") is None:
            # A bare scene has no colour tables, which volume display nodes refer to; in Slicer
            # the Colors module has already added them. Keep the logic alive: it owns them.
            from .headless import quiet_vtk

            self._colors = slicer.vtkSlicerColorLogic()
            with quiet_vtk():
                self._colors.SetMRMLScene(scene)

    # --- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _image(volumeNode) -> sitk.Image:
        if volumeNode is None:
            raise ParameterError("choose an input volume first")
        return S.volume_node_to_image(volumeNode)

    @staticmethod
    def _meta(volumeNode) -> dict | None:
        """What MedSeg knows of a volume's source (set by :meth:`convertDicom`), for the steps' CT checks."""
        if volumeNode is None or volumeNode.GetAttribute("MedSeg.IsHU") is None:
            return None  # unknown: the steps look at the values themselves
        return {"modality": volumeNode.GetAttribute("MedSeg.Modality"),
                "is_hu": volumeNode.GetAttribute("MedSeg.IsHU") == "True"}

    def _name(self, base, suffix: str) -> str:
        return f"{base.GetName()} {suffix}" if hasattr(base, "GetName") else f"{base} {suffix}"

    def _segments(self, segmentationNode, segments: Sequence[str] | None) -> list[str]:
        """Segment IDs in the node's order: all, or those whose ID or name is in ``segments``."""
        if segmentationNode is None:
            raise ParameterError("choose a segmentation first")
        seg = segmentationNode.GetSegmentation()
        ids = [seg.GetNthSegmentID(i) for i in range(seg.GetNumberOfSegments())]
        if segments is not None:
            wanted = set(segments)
            ids = [i for i in ids if i in wanted or seg.GetSegment(i).GetName() in wanted]
        if not ids:
            raise ParameterError(f"segmentation {segmentationNode.GetName()!r} has no segments to use")
        return ids

    def _layers(self, segmentationNode, volumeNode, segments=None) -> list[tuple[sitk.Image, list[L.Label]]]:
        """One label image per layer of the segmentation, on ``volumeNode``'s grid, with its segments as Labels.

        Segments in one layer never overlap, so each layer exports exactly; body drawn over the lungs
        (its own layer) keeps its whole extent.
        """
        ids = self._segments(segmentationNode, segments)
        seg = segmentationNode.GetSegmentation()
        values = S.segment_label_values(segmentationNode)
        by_layer: dict[int, list[str]] = {}
        for seg_id in ids:
            by_layer.setdefault(seg.GetLayerIndex(seg_id), []).append(seg_id)
        out = []
        for layer_ids in by_layer.values():
            labels, _names = S.segmentation_node_to_labels(segmentationNode, volumeNode, layer_ids)
            table = [L.Label(values[i], seg.GetSegment(i).GetName(),
                             tuple(int(round(255 * c)) for c in seg.GetSegment(i).GetColor())) for i in layer_ids]
            out.append((labels, table))
        return out

    def _segmentation(self, labels, names, volumeNode, suffix, closedSurface, progress, cancel):
        check_cancel(cancel)
        report(progress, 0.9, "adding the segmentation to the scene")
        node = S.labels_to_segmentation_node(self.scene, labels, names, reference_volume=volumeNode,
                                             name=self._name(volumeNode, suffix), closed_surface=closedSurface)
        report(progress, 1.0, f"{node.GetSegmentation().GetNumberOfSegments()} segments")
        return node

    # --- input and preprocessing -----------------------------------------------------------------

    def convertDicom(self, folder, series=None, name=None, window=CT_WINDOW, progress: Progress | None = None,
                     cancel: CancelEvent = None):
        """Load a DICOM folder (or file, or a volume file) as a volume node in HU; returns the node.

        folder: DICOM folder (searched recursively), one DICOM file, or .nrrd/.nii(.gz)/.mha.
        series: SeriesInstanceUID to load; None loads the largest CT series (the choice is a warning).
        name: node name; default the series description or the folder's name.
        window: display window (centre, width) in HU for CT; None keeps Slicer's automatic one.
        progress: ``progress(fraction, message)`` callback. cancel: ``threading.Event`` that stops the load.
        The metadata (modality, is_hu, warnings; never patient data) is kept in ``self.lastConversion``
        and in the node's attributes ``MedSeg.Modality``, ``MedSeg.IsHU`` and ``MedSeg.Warnings``.
        """
        from ..pipeline.steps import convert

        result = convert(folder, series=series, progress=sub_progress(progress, 0.0, 0.9), cancel=cancel)
        check_cancel(cancel)
        meta = result.meta
        base = name or meta.get("series_description") or Path(folder).name or "CT"
        node = S.image_to_volume_node(self.scene, result.image, base, window=window if meta.get("is_hu") else None)
        node.SetAttribute("MedSeg.Modality", str(meta.get("modality")))
        node.SetAttribute("MedSeg.IsHU", str(bool(meta.get("is_hu"))))
        node.SetAttribute("MedSeg.Warnings", "\n".join(meta.get("warnings", [])))
        S.place_in_study(self.scene, node, patient=Path(folder).name or "MedSeg",
                         study=meta.get("series_description") or "study",
                         attributes={"DICOM.Modality": meta.get("modality"), "DICOM.SeriesInstanceUID": meta.get("series_uid")})
        self.lastConversion = meta
        report(progress, 1.0, f"loaded {node.GetName()}")
        return node

    def checkHounsfield(self, volumeNode, progress: Progress | None = None, cancel: CancelEvent = None) -> dict:
        """HU summary of a volume (min, max, mean, std, p1, p50, p99 in HU) plus ``is_hu`` and a one-line ``message``.

        volumeNode: the volume to check. progress, cancel: as for every method.
        ``is_hu`` is True when the values look like CT in HU: air near -1000 and nothing far below -1024.
        """
        from ..preprocess import hu_summary

        check_cancel(cancel)
        summary = hu_summary(self._image(volumeNode))
        summary["is_hu"] = bool(summary["min"] >= -1100 and summary["p1"] <= -700 and summary["max"] <= 4000)
        looks = "looks like CT in HU" if summary["is_hu"] else "does not look like CT in HU"
        summary["message"] = (f"{volumeNode.GetName()}: {looks} (min {summary['min']:.0f}, median "
                              f"{summary['p50']:.0f}, max {summary['max']:.0f})")
        report(progress, 1.0, summary["message"])
        return summary

    def setWindow(self, volumeNode, window="mediastinum", progress: Progress | None = None, cancel: CancelEvent = None):
        """Set the display window of a volume (the voxels are not changed).

        volumeNode: the volume. window: a preset name of :data:`medseg.preprocess.WINDOWS`
        ("lung", "mediastinum", "bone", ...) or (centre, width) in HU. progress, cancel: as for every method.
        """
        from ..preprocess import WINDOWS

        check_cancel(cancel)
        if isinstance(window, str):
            if window not in WINDOWS:
                raise ParameterError(f"unknown window {window!r}; choose one of {', '.join(WINDOWS)}")
            window = WINDOWS[window]
        display = volumeNode.GetDisplayNode()
        display.AutoWindowLevelOff()
        display.SetWindowLevel(float(window[1]), float(window[0]))
        report(progress, 1.0, f"window {window[0]:g}/{window[1]:g} HU")

    def resampleVolume(self, volumeNode, spacing, name=None, progress: Progress | None = None,
                       cancel: CancelEvent = None):
        """A new volume resampled to ``spacing`` mm (one number, or (x, y, z) with None keeping an axis).

        volumeNode: the input. spacing: mm. name: the new node's name (default "<input> <spacing>mm").
        progress, cancel: as for every method. Linear interpolation; outside samples are AIR_HU.
        """
        from ..preprocess import resample_to_spacing

        image = resample_to_spacing(self._image(volumeNode), spacing, progress=sub_progress(progress, 0, 0.9),
                                    cancel=cancel)
        check_cancel(cancel)
        label = spacing if isinstance(spacing, (int, float)) else "x".join("-" if s is None else f"{s:g}" for s in spacing)
        node = S.image_to_volume_node(self.scene, image, name or self._name(volumeNode, f"{label}mm"), window=CT_WINDOW)
        S.place_beside(self.scene, node, volumeNode)
        report(progress, 1.0, f"resampled to {node.GetName()}")
        return node

    # --- the long steps: nodes -> images -> compute -> nodes -------------------------------------------

    def stepInputs(self, volumeNode, segmentationNode=None, segments=None, step=None) -> StepInputs:
        """The image (and, with a segmentation, its layers on the image's grid) a long step reads.

        For ``step`` "growFromSeeds" the segmentation's seed segments come as one label image instead
        (:meth:`_seedLayer`), since seeds in different layers may overlap.
        """
        inputs = StepInputs(self._image(volumeNode), self._meta(volumeNode))
        if step == "growFromSeeds":
            inputs.layers = [self._seedLayer(segmentationNode, volumeNode, segments)]
        elif segmentationNode is not None:
            inputs.layers = self._layers(segmentationNode, volumeNode, segments)
        return inputs

    def _seedLayer(self, seedSegmentationNode, volumeNode, segments=None) -> tuple[sitk.Image, list[L.Label]]:
        """The seed segments as one label image on ``volumeNode``'s grid, and their Labels in the node's order.

        Where seeds overlap, the segment higher in the list wins (as in Slicer): it is painted last.
        """
        ids = self._segments(seedSegmentationNode, segments)
        seg = seedSegmentationNode.GetSegmentation()
        seeds, _names = S.segmentation_node_to_labels(seedSegmentationNode, volumeNode, list(reversed(ids)))
        values = S.segment_label_values(seedSegmentationNode)
        table = [L.Label(values[i], seg.GetSegment(i).GetName(),
                         tuple(int(round(255 * c)) for c in seg.GetSegment(i).GetColor())) for i in ids]
        return seeds, table

    def addOutputs(self, outputs: StepOutputs, volumeNode, segmentationNode=None, tableNode=None,
                   closedSurface=True, progress: Progress | None = None, cancel: CancelEvent = None):
        """Put a step's outputs into the scene beside ``volumeNode``; returns the new node(s).

        A cleaned volume and a segmentation: (volume node, segmentation node); a segmentation: its
        node (warnings in its ``MedSeg.Warnings`` attribute); rows: a table node (``tableNode``
        overwritten when given), named after ``segmentationNode``; a classification: its dict, also
        kept in the volume's ``MedSeg.Classification`` attribute (JSON).
        """
        check_cancel(cancel)  # the last chance: from here every node is added, or none
        if outputs.device:
            report(progress, 0.9, f"ran on {outputs.device}")
        if outputs.classification is not None:
            import json

            result = dict(outputs.classification)
            volumeNode.SetAttribute("MedSeg.Classification", json.dumps(result))
            report(progress, 1.0, f"{volumeNode.GetName()}: normal {result['normal']:.3f}, "
                                  f"abnormal {result['abnormal']:.3f}")
            return result
        if outputs.rows is not None:
            node = S.rows_to_table_node(self.scene, outputs.rows, self._name(segmentationNode, outputs.name), tableNode,
                                        reference_node=volumeNode)
            report(progress, 1.0, f"{len(outputs.rows)} segments, {node.GetNumberOfColumns()} columns")
            return node
        cleaned = None
        if outputs.cleaned is not None:
            cleaned = S.image_to_volume_node(self.scene, outputs.cleaned, self._name(volumeNode, "cleaned"),
                                             window=CT_WINDOW)
            S.place_beside(self.scene, cleaned, volumeNode)
        node = self._segmentation(outputs.labels, outputs.segments, volumeNode, outputs.name, closedSurface,
                                  progress, None)
        node.SetAttribute("MedSeg.Warnings", "\n".join(outputs.warnings))
        if outputs.warnings:
            report(progress, 1.0, "; ".join(outputs.warnings))
        return (cleaned, node) if cleaned is not None else node

    def runStep(self, step: str, volumeNode, options: dict, segmentationNode=None, segments=None, tableNode=None,
                closedSurface=True, progress: Progress | None = None, cancel: CancelEvent = None):
        """One of :data:`medseg.mrml.compute.STEPS` in this process: inputs, the step, the outputs in the scene."""
        from .compute import run

        inputs = self.stepInputs(volumeNode, segmentationNode, segments, step=step)
        outputs = run(step, inputs, options, progress=sub_progress(progress, 0.0, 0.85), cancel=cancel)
        # The seeds' node is an input of grow from seeds, not the node its outputs belong to.
        owner = None if step == "growFromSeeds" else segmentationNode
        return self.addOutputs(outputs, volumeNode, owner, tableNode, closedSurface, progress, cancel)

    def removeTable(self, volumeNode, force=False, closedSurface=False, progress: Progress | None = None,
                    cancel: CancelEvent = None):
        """Remove the CT table/couch and headrest; returns (cleaned volume node, segmentation node).

        volumeNode: a CT volume in HU. force: run on input that does not look like CT in HU.
        closedSurface: build 3D surfaces for the segmentation. progress, cancel: as for every method.
        The cleaned volume has objects and outside air set to AIR_HU (-1024 HU); the segmentation
        holds "body" and "table-headrest" (the removed objects).
        """
        return self.runStep("removeTable", volumeNode, {"force": force}, closedSurface=closedSurface,
                            progress=progress, cancel=cancel)

    def segmentLungs(self, volumeNode, split=True, force=False, closedSurface=True, progress: Progress | None = None,
                     cancel: CancelEvent = None):
        """The anatomical lung mask as a segmentation node ("lung-right" and "lung-left", or "lung").

        volumeNode: a CT volume in HU. split: separate right and left lungs. force: run on input
        that does not look like CT in HU. closedSurface: build 3D surfaces. progress, cancel: as for every method.
        """
        return self.runStep("segmentLungs", volumeNode, {"split": split, "force": force}, closedSurface=closedSurface,
                            progress=progress, cancel=cancel)

    def autolabel(self, volumeNode, force=False, closedSurface=True, progress: Progress | None = None,
                  cancel: CancelEvent = None):
        """The auto-label table (body, table-headrest, lungs, airway, bone) as a segmentation node.

        volumeNode: a CT volume in HU. force: run on input that does not look like CT in HU.
        closedSurface: build 3D surfaces. progress, cancel: as for every method.
        """
        return self.runStep("autolabel", volumeNode, {"force": force}, closedSurface=closedSurface,
                            progress=progress, cancel=cancel)

    def runUNet(self, volumeNode, model, device="auto", closedSurface=True, progress: Progress | None = None,
                cancel: CancelEvent = None):
        """U-Net inference as a segmentation node, segments named from the model card's classes.

        volumeNode: the input volume. model: a shipped model's name (:func:`list_models`) or a model
        folder (model.pt + model.json). device: "auto", "cpu", "cuda" ("cuda:N" too) or "mps"; the
        one used is reported through ``progress``. closedSurface: build 3D surfaces. progress,
        cancel: as for every method. Warnings about the input (outside the model's trained range)
        go in the node's ``MedSeg.Warnings`` attribute.
        """
        return self.runStep("runUNet", volumeNode, {"model": str(model), "device": device},
                            closedSurface=closedSurface, progress=progress, cancel=cancel)

    # --- tables and meshes ---------------------------------------------------------------------------

    def _rows_per_layer(self, step, volumeNode, segmentationNode, segments, progress, cancel, **kw) -> list[dict]:
        image = self._image(volumeNode)
        layers = self._layers(segmentationNode, volumeNode, segments)
        rows = []
        for n, (labels, table) in enumerate(layers):
            part = sub_progress(progress, 0.9 * n / len(layers), 0.9 * (n + 1) / len(layers))
            rows += step(image, labels, {lab.value: lab.name for lab in table}, progress=part, cancel=cancel, **kw)
        check_cancel(cancel)
        return rows

    def radiomicsSegments(self, segmentationNode) -> list[str] | None:
        """The segments radiomics uses by default: all but body and table-headrest (None: all)."""
        skip = {L.BODY.name, L.TABLE_HEADREST.name}
        seg = segmentationNode.GetSegmentation() if segmentationNode else None
        return [s for s in self._segments(segmentationNode, None) if seg.GetSegment(s).GetName() not in skip] or None

    def exportRadiomics(self, volumeNode, segmentationNode, preset="ct-default", segments=None, tableNode=None,
                        progress: Progress | None = None, cancel: CancelEvent = None):
        """pyradiomics features, one row per segment, as a table node; returns it.

        volumeNode: the image the features are computed on. segmentationNode: the segments.
        preset: a shipped preset name (``radiomics.list_presets()``) or a pyradiomics YAML path.
        segments: segment IDs or names (default: every segment except body and table-headrest).
        tableNode: a table node to overwrite (default: a new one). progress, cancel: as for every method.
        """
        segments = self.radiomicsSegments(segmentationNode) if segments is None else segments
        return self.runStep("exportRadiomics", volumeNode, {"preset": preset}, segmentationNode=segmentationNode,
                            segments=segments, tableNode=tableNode, progress=progress, cancel=cancel)

    def segmentStatistics(self, volumeNode, segmentationNode, segments=None, tableNode=None,
                          progress: Progress | None = None, cancel: CancelEvent = None):
        """Volume (mm³, ml) and HU statistics per segment as a table node; returns it.

        volumeNode: the image (HU). segmentationNode: the segments. segments: segment IDs or names
        (default: all). tableNode: a table node to overwrite. progress, cancel: as for every method.
        """
        from ..measure.stats import segment_statistics

        rows = self._rows_per_layer(segment_statistics, volumeNode, segmentationNode, segments, progress, cancel)
        node = S.rows_to_table_node(self.scene, rows, self._name(segmentationNode, "statistics"), tableNode,
                                    reference_node=volumeNode)
        report(progress, 1.0, f"{len(rows)} segments")
        return node

    def exportMeshes(self, segmentationNode, segments=None, smoothIterations=10, decimate=0.0,
                     progress: Progress | None = None, cancel: CancelEvent = None) -> list:
        """One model node per segment (surface in RAS mm, segment's colour), in a folder beside the segmentation.

        segmentationNode: the segments, with a reference volume. segments: IDs or names (default all).
        smoothIterations: Taubin smoothing steps (0: none). decimate: fraction of faces removed, [0, 1).
        progress, cancel: as for every method.
        """
        from ..measure.mesh import label_surfaces

        volumeNode = segmentationNode.GetNodeReference(
            slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole()) if segmentationNode else None
        layers = self._layers(segmentationNode, volumeNode, segments)
        surfaces = []
        for n, (labels, table) in enumerate(layers):
            part = sub_progress(progress, 0.9 * n / len(layers), 0.9 * (n + 1) / len(layers))
            surfaces += label_surfaces(labels, table, smooth_iterations=smoothIterations, decimate=decimate,
                                       progress=part, cancel=cancel)
        check_cancel(cancel)
        nodes = S.surfaces_to_model_nodes(self.scene, surfaces, reference_node=segmentationNode,
                                          folder=self._name(segmentationNode, "models"))
        report(progress, 1.0, f"{len(nodes)} models")
        return nodes

    # --- files ---------------------------------------------------------------------------------------

    def saveSegmentation(self, segmentationNode, path, progress: Progress | None = None, cancel: CancelEvent = None) -> Path:
        """Write a segmentation with Slicer's own storage node (``.seg.nrrd``); returns the path.

        segmentationNode: the segmentation. path: the file to write. progress, cancel: as for every method.
        """
        check_cancel(cancel)
        storage = segmentationNode.GetStorageNode()
        if storage is None:
            segmentationNode.AddDefaultStorageNode()
            storage = segmentationNode.GetStorageNode()
        storage.SetFileName(str(path))
        if not storage.WriteData(segmentationNode):
            raise ParameterError(f"could not write {path}")
        report(progress, 1.0, f"wrote {path}")
        return Path(path)

    def segmentationToLabels(self, segmentationNode, volumeNode=None, segments=None, progress: Progress | None = None,
                             cancel: CancelEvent = None):
        """(label image on ``volumeNode``'s grid, {value: name}); see :func:`scene.segmentation_node_to_labels`.

        segmentationNode: the segments. volumeNode: the grid (default the segmentation's reference
        volume). segments: IDs or names (default all). progress, cancel: as for every method.
        """
        check_cancel(cancel)
        result = S.segmentation_node_to_labels(segmentationNode, volumeNode, self._segments(segmentationNode, segments))
        report(progress, 1.0, "exported")
        return result

    # --- semi-automatic and whole-volume steps -------------------------------------------------------

    def growFromSeeds(self, volumeNode, seedSegmentationNode, intensityRange=None, smooth="median", kernelMm=3.0,
                      seedLocality=0.0, segments=None, wholeImage=False, closedSurface=True,
                      progress: Progress | None = None, cancel: CancelEvent = None):
        """Grow seed segments into a full segmentation (semi-automatic); returns a new segmentation node.

        volumeNode: the image the seeds were painted on. seedSegmentationNode: two or more seed
        segments (painted on a few slices each). intensityRange: (lo, hi) HU, the editable range
        (None: everywhere). smooth: "median" (closing, then a median), "closing" or "none";
        kernelMm: their box in mm. seedLocality: Slicer's seed locality. segments: IDs or names of
        the seed segments (default all). wholeImage: grow over the whole volume, not the seeds' box
        plus a margin. closedSurface: build 3D surfaces. progress, cancel: as for every method.
        The new segments keep the seeds' names and colours; where seeds overlap, the segment higher
        in the list wins (as in Slicer). Slicer's own grow-cut filter does the growing. For painting
        and growing interactively, use the Segment Editor's "Grow from seeds" effect.
        """
        return self.runStep("growFromSeeds", volumeNode, self.growOptions(intensityRange, smooth, kernelMm, seedLocality,
                                                                          wholeImage, engine="slicer"),
                            segmentationNode=seedSegmentationNode, segments=segments, closedSurface=closedSurface,
                            progress=progress, cancel=cancel)

    @staticmethod
    def growOptions(intensityRange=None, smooth="median", kernelMm=3.0, seedLocality=0.0, wholeImage=False,
                    engine="auto") -> dict:
        """The options of the "growFromSeeds" step (:func:`medseg.mrml.compute.grow_from_seeds`) from the
        method's arguments; ``engine`` "slicer" in Slicer's process, "auto" in a background one."""
        hu_range = None if intensityRange is None else [float(intensityRange[0]), float(intensityRange[1])]
        if hu_range is not None and not hu_range[0] < hu_range[1]:
            raise ParameterError(f"the intensity range needs LO < HI (got {hu_range[0]:g}, {hu_range[1]:g})")
        return {"hu_range": hu_range, "smooth": smooth, "kernel_mm": float(kernelMm), "locality": float(seedLocality),
                "whole_image": bool(wholeImage), "engine": engine}

    @staticmethod
    def growBackgroundNeeds() -> tuple:
        """What the panel's background grow from seeds needs: nothing more where Slicer's filter can be
        imported by a plain Python of this Slicer, else ITK's fast grow-cut (the "grow" feature)."""
        from .growcut import slicer_filter_available

        return ("scipy",) if slicer_filter_available() else FEATURES["grow"]

    @staticmethod
    def intensityRange(volumeNode) -> tuple[float, float] | None:
        """(min, max) of a volume's voxel values (HU for CT): the default editable range of grow from seeds."""
        image = volumeNode.GetImageData() if volumeNode is not None else None
        if image is None:
            return None
        lo, hi = image.GetScalarRange()
        return float(lo), float(hi)

    def classify(self, volumeNode, model, device="auto", progress: Progress | None = None,
                 cancel: CancelEvent = None) -> dict:
        """The 3D CNN classifier's probabilities for a volume: {"normal": p, "abnormal": p, "label", "warnings"}.

        volumeNode: a CT volume in HU. model: a classifier folder (``medseg classify-train``).
        device: "auto", "cpu" or "cuda" ("cuda:N" too). progress, cancel: as for every method.
        The result is also kept in the volume's attribute ``MedSeg.Classification`` (JSON).
        """
        return self.runStep("classify", volumeNode, {"model": str(model), "device": device}, progress=progress,
                            cancel=cancel)
