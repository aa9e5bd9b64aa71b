"""Surface meshes: marching cubes per segment, measures, smoothing, decimation, writers, pictures."""

from __future__ import annotations

import base64
import json
import struct
import sys
import threading
import types
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import SimpleITK as sitk

from conftest import shared
from medseg.measure import mesh
from medseg.io import meshes as mesh_io
from medseg.report import meshes as mesh_figures
from medseg.errors import Cancelled, DependencyError, ParameterError
from medseg import labels
from medseg.labels import Label

RADIUS = 10.0
ORIGIN = (-20.5, 30.25, -100.0)
Z_FLIP = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # left-handed index frame (det -1)
ROTATED = (0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0)  # permuted x/y and flipped z (det +1)


def ball_image(spacing_zyx=(1.0, 1.0, 1.0), radius=RADIUS, centres_mm=((0.0, 0.0, 0.0),), values=(1,),
               origin=ORIGIN, direction=None, margin=4.0) -> sitk.Image:
    """Balls (centres in index-aligned mm from the grid centre, (x, y, z)) on a grid of <= 64^3."""
    sp = np.asarray(spacing_zyx, dtype=float)
    span = 2 * (radius + margin) + 2 * np.max(np.abs(np.asarray(centres_mm)), axis=0)[::-1]
    n = np.ceil(span / sp).astype(int)
    assert n.max() <= 64
    z, y, x = np.meshgrid(*[(np.arange(k) - (k - 1) / 2) * s for k, s in zip(n, sp)], indexing="ij")
    arr = np.zeros(n, dtype=np.uint8)
    for (cx, cy, cz), v in zip(centres_mm, values):
        arr[(x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= radius ** 2] = v
    image = sitk.GetImageFromArray(arr)
    image.SetSpacing(tuple(float(s) for s in sp[::-1]))
    image.SetOrigin(origin)
    if direction is not None:
        image.SetDirection(direction)
    return image


def voxel_volume_ml(image: sitk.Image, value: int = 1) -> float:
    return float((sitk.GetArrayViewFromImage(image) == value).sum() * np.prod(image.GetSpacing()) / 1000.0)


def grid_centre(image: sitk.Image) -> np.ndarray:
    return np.asarray(image.TransformContinuousIndexToPhysicalPoint([(k - 1) / 2 for k in image.GetSize()]))


@pytest.mark.parametrize("spacing,direction", [((1.0, 1.0, 1.0), None), ((2.0, 0.8, 0.8), None),
                                               ((1.5, 0.9, 1.1), ROTATED), ((1.25, 1.0, 0.9), Z_FLIP)])
def test_sphere_volume_area_watertight_outward(spacing, direction):
    image = ball_image(spacing, direction=direction)
    (surface,) = mesh.label_surfaces(image, [labels.BODY])
    expected = voxel_volume_ml(image)
    assert surface.volume_ml > 0
    assert abs(surface.volume_ml - expected) / expected < 0.02
    # Binary marching cubes over-counts the staircase area by ~8-13%; it stays near 4 pi r^2.
    assert 1.0 < surface.area_mm2 / (4 * np.pi * RADIUS ** 2) < 1.15
    edges = mesh.edge_report(surface.faces)
    assert edges == {**edges, "boundary": 0, "non_manifold": 0, "misoriented": 0, "watertight": True}
    assert surface.watertight
    # Every vertex lies about r from the centre, and its normal points away from it.
    radial = surface.vertices - grid_centre(image)
    assert np.allclose(np.linalg.norm(radial, axis=1), RADIUS, atol=max(spacing))
    dots = np.einsum("ij,ij->i", surface.normals, radial / np.linalg.norm(radial, axis=1, keepdims=True))
    assert dots.mean() > 0.9 and (dots > 0).all()
    assert np.allclose(np.linalg.norm(surface.normals, axis=1), 1.0)
    assert surface.space == "LPS" and surface.name == "body" and surface.color == (177, 122, 101)


def test_ras_negates_x_and_y_and_stays_outward():
    image = ball_image((1.2, 0.9, 1.0), direction=ROTATED)
    (lps,) = mesh.label_surfaces(image)
    (ras,) = mesh.label_surfaces(image, ras=True)
    assert ras.space == "RAS"
    assert np.allclose(ras.vertices, lps.vertices * [-1, -1, 1])
    assert np.allclose(ras.normals, lps.normals * [-1, -1, 1])
    assert np.array_equal(ras.faces, lps.faces)  # two flips keep the handedness: faces stay outward
    assert ras.volume_ml == pytest.approx(lps.volume_ml)
    centre = grid_centre(image) * [-1, -1, 1]
    assert np.einsum("ij,ij->i", ras.normals, ras.vertices - centre).mean() > 0


def test_smoothing_keeps_volume_and_approaches_the_sphere():
    image = ball_image((1.0, 1.0, 1.0))
    (raw,) = mesh.label_surfaces(image)
    (smooth,) = mesh.label_surfaces(image, smooth_iterations=20)
    assert len(smooth.faces) == len(raw.faces) and smooth.watertight
    assert abs(smooth.volume_ml - raw.volume_ml) / raw.volume_ml < 0.03
    sphere_area = 4 * np.pi * RADIUS ** 2
    assert abs(smooth.area_mm2 - sphere_area) < abs(raw.area_mm2 - sphere_area)
    assert abs(smooth.area_mm2 / sphere_area - 1) < 0.05
    radii = np.linalg.norm(smooth.vertices - grid_centre(image), axis=1)
    assert radii.std() < np.linalg.norm(raw.vertices - grid_centre(image), axis=1).std()


@pytest.mark.parametrize("fraction", [0.5, 0.8])
def test_decimation_removes_the_asked_fraction_of_faces(fraction):
    image = ball_image((1.0, 1.0, 1.0))
    (raw,) = mesh.label_surfaces(image)
    (small,) = mesh.label_surfaces(image, decimate=fraction, smooth_iterations=5)
    assert len(small.faces) == pytest.approx((1 - fraction) * len(raw.faces), rel=0.05)
    assert len(small.vertices) < len(raw.vertices)
    assert small.watertight
    assert abs(small.volume_ml - raw.volume_ml) / raw.volume_ml < 0.05


def test_several_segments_names_colours_values_and_the_image_border():
    image = ball_image((1.0, 1.0, 1.0), radius=6.0, centres_mm=((-9.0, 0, 0), (9.0, 0, 0)), values=(3, 7), margin=0.0)
    arr = sitk.GetArrayFromImage(image)
    arr[:3, :3, :3] = 9  # a cube in the corner: it touches the border and must still be closed
    labels = sitk.GetImageFromArray(arr)
    labels.CopyInformation(image)
    surfaces = mesh.label_surfaces(labels, names={3: "liver", 7: "thing", 9: "corner"})
    assert [(s.label_value, s.name) for s in surfaces] == [(3, "liver"), (7, "thing"), (9, "corner")]
    assert surfaces[0].color == (221, 130, 101)  # anatomy colour by name
    assert all(s.watertight for s in surfaces)
    for s in surfaces[:2]:
        assert abs(s.volume_ml - voxel_volume_ml(labels, s.label_value)) / voxel_volume_ml(labels, s.label_value) < 0.03
    # Marching cubes cuts a 3x3x3 voxel cube's 12 edges (3 mm x 1/8 mm^2 each) and adds back 1/12 at each corner.
    assert surfaces[2].volume_ml * 1000 == pytest.approx(27 - 12 * 3 / 8 + 8 / 12)
    only = mesh.label_surfaces(labels, names=[Label(7, "seven", (1, 2, 3))], values=[7])
    assert [(s.name, s.color) for s in only] == [("seven", (1, 2, 3))]
    rows = [s.summary() for s in surfaces]
    assert json.loads(json.dumps(rows))[0]["name"] == "liver"


def test_empty_labels_progress_cancel_and_bad_parameters():
    empty = sitk.Image(8, 8, 8, sitk.sitkUInt8)
    assert mesh.label_surfaces(empty) == []
    image = ball_image()
    seen = []
    mesh.label_surfaces(image, progress=lambda f, m: seen.append(f))
    assert seen and seen[-1] == 1.0
    stop = threading.Event()
    stop.set()
    with pytest.raises(Cancelled):
        mesh.label_surfaces(image, cancel=stop)
    with pytest.raises(ParameterError):
        mesh.label_surfaces(image, decimate=1.0)
    with pytest.raises(ParameterError):
        mesh.label_surfaces(image, smooth_iterations=-1)


# --- writers -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ball_surface():
    return mesh.label_surfaces(ball_image((1.0, 0.9, 0.9)), names={1: "ball"})[0]


def test_stl_is_binary_with_the_triangle_count(ball_surface, tmp_path):
    path = mesh_io.write_mesh(ball_surface, tmp_path / "ball.stl")
    data = path.read_bytes()
    assert not data.startswith(b"solid") and b"LPS" in data[:80]
    (count,) = struct.unpack("<I", data[80:84])
    assert count == len(ball_surface.faces) and len(data) == 84 + 50 * count
    rec = np.frombuffer(data[84:], dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    assert np.allclose(rec["v"], ball_surface.vertices[ball_surface.faces], atol=1e-4)
    # facet normals point outward
    assert (np.einsum("ij,ij->i", rec["n"], rec["v"].mean(axis=1) - ball_surface.vertices.mean(axis=0)) > 0).all()


def test_obj_counts(ball_surface, tmp_path):
    text = mesh_io.write_mesh(ball_surface, tmp_path / "ball.obj").read_text()
    lines = text.splitlines()
    assert sum(line.startswith("v ") for line in lines) == len(ball_surface.vertices)
    assert sum(line.startswith("vn ") for line in lines) == len(ball_surface.vertices)
    faces = [line for line in lines if line.startswith("f ")]
    assert len(faces) == len(ball_surface.faces)
    first = [int(tok.split("//")[0]) for tok in faces[0].split()[1:]]
    assert first == list(ball_surface.faces[0] + 1)


def test_ply_header_and_payload(ball_surface, tmp_path):
    data = mesh_io.write_mesh(ball_surface, tmp_path / "ball.ply").read_bytes()
    head, body = data.split(b"end_header\n", 1)
    header = head.decode("ascii").splitlines()
    assert header[:2] == ["ply", "format binary_little_endian 1.0"]
    assert f"element vertex {len(ball_surface.vertices)}" in header
    assert f"element face {len(ball_surface.faces)}" in header
    n, m = len(ball_surface.vertices), len(ball_surface.faces)
    assert len(body) == n * (6 * 4 + 3) + m * (1 + 3 * 4)
    vert = np.frombuffer(body[: n * 27], dtype=[("p", "<f4", 3), ("n", "<f4", 3), ("rgb", "u1", 3)])
    faces = np.frombuffer(body[n * 27:], dtype=[("c", "u1"), ("i", "<i4", 3)])
    assert np.allclose(vert["p"], ball_surface.vertices, atol=1e-4)
    assert (faces["c"] == 3).all() and np.array_equal(faces["i"], ball_surface.faces)


def _vtp_array(element) -> np.ndarray:
    dtype = {"Float32": "<f4", "Int64": "<i8"}[element.get("type")]
    raw = base64.b64decode(element.text.strip())
    (nbytes,) = struct.unpack("<I", raw[:4])
    assert nbytes == len(raw) - 4
    return np.frombuffer(raw[4:], dtype=dtype)


def test_vtp_is_well_formed_vtk_xml(ball_surface, tmp_path):
    root = ET.parse(mesh_io.write_mesh(ball_surface, tmp_path / "ball.vtp")).getroot()
    assert root.tag == "VTKFile" and root.get("type") == "PolyData"
    piece = root.find("PolyData/Piece")
    assert int(piece.get("NumberOfPoints")) == len(ball_surface.vertices)
    assert int(piece.get("NumberOfPolys")) == len(ball_surface.faces)
    points = _vtp_array(piece.find("Points/DataArray")).reshape(-1, 3)
    assert np.allclose(points, ball_surface.vertices, atol=1e-4)
    polys = {a.get("Name"): _vtp_array(a) for a in piece.find("Polys")}
    assert np.array_equal(polys["connectivity"].reshape(-1, 3), ball_surface.faces)
    assert polys["offsets"][-1] == 3 * len(ball_surface.faces)


def test_vtk_reads_every_format(ball_surface, tmp_path):
    """Cross-check with VTK's own readers (tests may use VTK; medseg may not)."""
    vtk = pytest.importorskip("vtk", reason="VTK not installed: the cross-check with VTK's readers needs it")
    readers = {"stl": vtk.vtkSTLReader, "obj": vtk.vtkOBJReader, "ply": vtk.vtkPLYReader, "vtp": vtk.vtkXMLPolyDataReader}
    for fmt, reader_type in readers.items():
        reader = reader_type()
        reader.SetFileName(str(mesh_io.write_mesh(ball_surface, tmp_path / f"ball.{fmt}")))
        reader.Update()
        out = reader.GetOutput()
        assert out.GetNumberOfCells() == len(ball_surface.faces), fmt
        if fmt != "stl":  # STL stores triangles, VTK merges their corners again
            assert out.GetNumberOfPoints() == len(ball_surface.vertices), fmt
        mass = vtk.vtkMassProperties()
        mass.SetInputData(out)
        mass.Update()
        assert mass.GetVolume() / 1000 == pytest.approx(ball_surface.volume_ml, rel=1e-4), fmt


def test_write_meshes_names_files_by_segment(tmp_path):
    image = ball_image(radius=5.0, centres_mm=((-8.0, 0, 0), (8.0, 0, 0)), values=(1, 2), margin=1.0)
    surfaces = mesh.label_surfaces(image, names={1: "left kidney/upper", 2: "left kidney/upper"})
    paths = mesh_io.write_meshes(surfaces, tmp_path / "out", fmt="obj")
    assert [p.name for p in paths] == ["left_kidney_upper-1.obj", "left_kidney_upper-2.obj"]
    assert all(p.exists() for p in paths)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temporaries left
    with pytest.raises(ParameterError):
        mesh_io.write_meshes(surfaces, tmp_path, fmt="3ds")
    with pytest.raises(ParameterError):
        mesh_io.write_mesh(surfaces[0], tmp_path / "x.dae")


# --- pictures ------------------------------------------------------------------------------------

def test_render_png_is_drawn_and_anterior_puts_patient_right_on_image_left(tmp_path):
    from matplotlib.image import imread
    # Value 1 at patient right (-x in LPS), value 2 at patient left (+x).
    image = ball_image(radius=6.0, centres_mm=((-10.0, 0, 0), (10.0, 0, 0)), values=(1, 2), margin=1.0,
                       origin=(0.0, 0.0, 0.0))
    labels = [Label(1, "right", (230, 20, 20)), Label(2, "left", (20, 20, 230))]
    surfaces = mesh.label_surfaces(image, names=labels)
    for ras in (False, True):  # RAS surfaces are shown in the same patient orientation
        shown = mesh.label_surfaces(image, names=labels, ras=True) if ras else surfaces
        path = mesh_figures.render_png(shown, tmp_path / f"view-{ras}.png", views=("anterior",), legend=False)
        rgb = imread(path)[..., :3]
        assert rgb.std() > 0.05  # not blank
        red = (rgb[..., 0] > rgb[..., 2] + 0.2)
        blue = (rgb[..., 2] > rgb[..., 0] + 0.2)
        cols = np.arange(rgb.shape[1])
        assert red.sum() > 500 and blue.sum() > 500
        assert cols[np.nonzero(red)[1]].mean() < rgb.shape[1] / 2 < cols[np.nonzero(blue)[1]].mean()
    path = mesh_figures.render_png(surfaces, tmp_path / "two.png", views=("anterior", "superior", (20, -60)), title="t")
    assert path.stat().st_size > 10_000
    with pytest.raises(ParameterError):
        mesh_figures.render_png(surfaces, tmp_path / "x.png", views=("sideways",))
    with pytest.raises(ParameterError):
        mesh_figures.render_png([], tmp_path / "x.png")


def test_render_html_without_plotly_says_how_to_install(monkeypatch, tmp_path, ball_surface):
    monkeypatch.setitem(sys.modules, "plotly", None)
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(DependencyError, match="pip install plotly"):
        mesh_figures.render_html([ball_surface], tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


def test_render_html_builds_one_mesh3d_per_surface(monkeypatch, tmp_path):
    """The plotly code path, run against a recording stand-in for plotly (not installed here)."""
    calls = {}

    class Figure:
        def __init__(self, traces):
            calls["traces"] = traces

        def update_layout(self, **layout):
            calls["layout"] = layout

        def write_html(self, path, include_plotlyjs=True):
            calls["plotlyjs"] = include_plotlyjs
            with open(path, "w") as fh:
                fh.write("<html>fake plotly</html>")

    go = types.ModuleType("plotly.graph_objects")
    go.Figure, go.Mesh3d = Figure, lambda **kw: kw
    plotly = types.ModuleType("plotly")
    plotly.graph_objects = go
    monkeypatch.setitem(sys.modules, "plotly", plotly)
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", go)
    image = ball_image(radius=5.0, centres_mm=((-8.0, 0, 0), (8.0, 0, 0)), values=(1, 2), margin=1.0)
    surfaces = mesh.label_surfaces(image, names={1: "liver", 2: "spleen"}, ras=True)
    path = mesh_figures.render_html(surfaces, tmp_path / "view.html", title="t")
    assert path.read_text() == "<html>fake plotly</html>"
    assert [t["name"].split()[0] for t in calls["traces"]] == ["liver", "spleen"]
    first = calls["traces"][0]
    assert np.array_equal(first["i"], surfaces[0].faces[:, 0]) and np.allclose(first["x"], surfaces[0].vertices[:, 0])
    assert first["color"] == "rgb(221,130,101)"
    scene = calls["layout"]["scene"]
    assert scene["xaxis_title"] == "x (R) mm"
    # Equal mm on every axis: the box's sides are in the surfaces' extent ratios.
    v = np.concatenate([s.vertices for s in surfaces])
    extent = v.max(axis=0) - v.min(axis=0)
    assert scene["aspectmode"] == "manual"
    assert np.allclose([scene["aspectratio"][a] for a in "xyz"], extent / extent.max(), rtol=1e-5)
    assert scene["camera"]["eye"]["y"] > 0  # RAS: the anterior camera sits at +y
    assert calls["plotlyjs"] is True


def test_render_html_with_plotly(tmp_path, ball_surface):
    pytest.importorskip("plotly", reason="plotly is an optional extra and is not installed here")
    path = mesh_figures.render_html([ball_surface], tmp_path / "x.html", include_plotlyjs="cdn")
    assert "Mesh3d" in path.read_text() or "mesh3d" in path.read_text()


# --- real data -----------------------------------------------------------------------------------

def test_abdomen_liver_volume_matches_the_voxel_count():
    from medseg import io
    labels, _ = io.load(shared("ct-abdomen-20", "reference-labels.nrrd"))
    (liver,) = mesh.label_surfaces(labels, names={5: "liver"}, values=[5])
    assert liver.watertight
    assert abs(liver.volume_ml - voxel_volume_ml(labels, 5)) / voxel_volume_ml(labels, 5) < 0.02
