"""equations.geometry: shapes, boundary pieces, sampling and R-function distances."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from equations.geometry import Ball, Box, Disk, GeometryError, Interval, Polygon, Rectangle

L_SHAPE = [(0, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2)]


def tensor(points: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(points, dtype=torch.float64, requires_grad=grad)


def gradient(shape, points: np.ndarray) -> np.ndarray:
    x = tensor(points, grad=True)
    (g,) = torch.autograd.grad(shape.signed(x).sum(), x)
    return g.numpy()


def assert_smooth_inside(shape, inside: np.ndarray) -> None:
    """signed > 0 at interior points, with finite first and second autograd derivatives there."""
    x = tensor(inside, grad=True)
    signed = shape.signed(x)
    assert (signed > 0).all()
    (first,) = torch.autograd.grad(signed.sum(), x, create_graph=True)
    second = [torch.autograd.grad(first[:, j].sum(), x, retain_graph=True)[0] for j in range(x.shape[1])]
    assert torch.isfinite(first).all() and all(torch.isfinite(row).all() for row in second)


def refused(call) -> str:
    with pytest.raises(GeometryError) as caught:
        call()
    message = str(caught.value)
    assert message and "\n" not in message
    return message


# --------------------------------------------------------------------------- disk and ball


def test_disk_signed_distance_sampling_and_normals():
    centre, r = np.array([0.3, -0.2]), 0.7
    disk, rng = Disk(centre, r), np.random.default_rng(0)
    assert disk.signed(tensor(centre[None])).item() == pytest.approx(r / 2, abs=1e-15)

    points, normals, index = disk.sample_boundary(200, rng)
    assert points.shape == normals.shape == (200, 2) and set(index) == {0}
    assert np.abs(disk.signed(tensor(points)).detach().numpy()).max() < 1e-14
    np.testing.assert_allclose(normals, (points - centre) / r, atol=1e-14)
    np.testing.assert_allclose(gradient(disk, points), -normals, atol=1e-12)  # inward normal, |grad| = 1
    assert disk.pieces()[0].measure == pytest.approx(2 * math.pi * r)

    inside = disk.sample_interior(4000, rng)
    assert inside.shape == (4000, 2) and disk.contains(inside).all()
    assert np.mean(np.linalg.norm(inside - centre, axis=1) < r / 2) == pytest.approx(0.25, abs=0.03)
    assert (disk.signed(tensor(inside)) > 0).all()


def test_ball_in_five_dimensions():
    centre, r = np.arange(5.0), 1.5
    ball, rng = Ball(centre, r), np.random.default_rng(1)
    points, normals, _ = ball.sample_boundary(500, rng)
    np.testing.assert_allclose(np.linalg.norm(points - centre, axis=1), r, rtol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, rtol=1e-14)
    assert ball.signed(tensor(centre[None])).item() == pytest.approx(r / 2)
    assert ball.pieces()[0].measure == pytest.approx(8 * math.pi**2 / 3 * r**4)  # area of the 4-sphere
    assert ball.contains(ball.sample_interior(300, rng)).all()
    assert Ball(np.zeros(12), 1.0).contains(Ball(np.zeros(12), 1.0).sample_interior(200, rng)).all()  # direct draw


def test_signed_keeps_dtype():
    shape = Box([0, 0], [1, 1]) - Disk([0.5, 0.5], 0.2)
    x = torch.tensor([[0.1, 0.1], [0.9, 0.2]], dtype=torch.float32)
    assert shape.signed(x).dtype == torch.float32 and shape.signed(x).shape == (2, 1)


# --------------------------------------------------------------------------- box and interval


def test_interval_and_box_pieces():
    interval = Interval(-1.0, 3.0)
    assert [p.name for p in interval.pieces()] == ["interval.low", "interval.high"]
    points, normals, index = interval.sample_boundary(1000, np.random.default_rng(2))
    assert set(points[:, 0]) == {-1.0, 3.0}
    np.testing.assert_array_equal(normals[:, 0], np.where(points[:, 0] > 0, 1.0, -1.0))
    assert np.mean(index == 0) == pytest.approx(0.5, abs=0.05)
    assert interval.signed(tensor([[1.0], [-1.0], [4.0]]))[:, 0].tolist()[1:] == [0.0, pytest.approx(-1.0, rel=0.5)]

    rectangle = Rectangle([0, 0], [2, 1])
    assert [p.name for p in rectangle.pieces()] == ["box.left", "box.right", "box.bottom", "box.top"]
    top = rectangle.pieces()[3]
    phi = top.distance(tensor([[1.0, 1.0], [3.0, 1.0], [1.0, 0.5]]))[:, 0]
    assert phi[0] == 0 and phi[1] == pytest.approx(1.5) and phi[2] == pytest.approx(0.5, rel=0.1)  # trimmed: |t| = 1.5 beyond the side

    cube = Box([0, 0, 0], [1, 2, 3], name="cube")
    assert [p.name for p in cube.pieces()][:2] == ["cube.low0", "cube.high0"]
    assert [p.measure for p in cube.pieces()] == [6, 6, 3, 3, 2, 2]
    points, normals, index = cube.sample_boundary(2000, np.random.default_rng(3))
    assert np.abs(cube.signed(tensor(points)).detach().numpy()).max() < 1e-14
    assert np.mean(index < 2) == pytest.approx(12 / 22, abs=0.04)
    high0 = cube.pieces()[1].distance
    on_face, beyond_face = tensor([[1.0, 1.0, 1.5]]), tensor([[1.0, 3.0, 1.5]])
    assert high0(on_face).item() == 0 and high0(beyond_face).item() > 0.5


# --------------------------------------------------------------------------- polygon


def test_l_shaped_polygon():
    shape, rng = Polygon(L_SHAPE), np.random.default_rng(4)
    probes = np.array([[0.5, 0.5], [1.5, 0.5], [0.5, 1.5], [1.5, 1.5], [2.0, 0.5], [1.0, 1.0], [1.5, 1.0], [3.0, 3.0]])
    np.testing.assert_array_equal(shape.contains(probes), [True, True, True, False, True, True, True, False])
    assert shape.contains(rng.uniform(0, 2, (40000, 2))).mean() == pytest.approx(0.75, abs=0.01)

    inside = shape.sample_interior(2000, rng)
    assert shape.contains(inside).all() and not ((inside[:, 0] > 1) & (inside[:, 1] > 1)).any()
    assert_smooth_inside(shape, inside)
    assert (shape.signed(tensor(np.array([[1.5, 1.5], [-0.5, 1.0]]))) < 0).all()

    for piece in shape.pieces():
        on_edge, _ = piece.sample(100, rng)
        assert piece.distance(tensor(on_edge)).max().item() < 1e-14
        assert (piece.distance(tensor(inside)) > 0).all()
    # edge2 runs from (2, 1) to (1, 1); its line goes on inside the polygon, where the trimmed distance does not vanish
    assert shape.pieces()[2].distance(tensor(np.array([[0.5, 1.0]]))).item() > 0.4

    points, normals, index = shape.sample_boundary(800, rng)
    assert np.abs(shape.signed(tensor(points)).detach().numpy()).max() < 1e-14
    near = points - 1e-6 * normals  # just inside, away from corners: grad = inward normal
    away = np.min(np.abs(points[:, None, :] - np.array(L_SHAPE)[None]).max(axis=2), axis=1) > 0.05
    np.testing.assert_allclose(gradient(shape, near[away]), -normals[away], atol=1e-4)


def test_polygon_clockwise_gives_outward_normals():
    counter, clockwise = Polygon(L_SHAPE), Polygon(L_SHAPE[::-1])
    assert counter.counterclockwise and not clockwise.counterclockwise
    rng = np.random.default_rng(5)
    for shape in (counter, clockwise):
        for piece in shape.pieces():
            points, normals = piece.sample(50, rng)
            assert shape.contains(points - 1e-3 * normals).all() and not shape.contains(points + 1e-3 * normals).any()
    # The same edge in both: counterclockwise edge k is clockwise edge (4 - k) % 6, reversed.
    for k, piece in enumerate(counter.pieces()):
        twin = clockwise.pieces()[(4 - k) % 6]
        np.testing.assert_allclose(piece.sample(1, rng)[1], twin.sample(1, rng)[1])
        assert piece.measure == twin.measure


# --------------------------------------------------------------------------- composites


def test_rectangle_with_two_holes():
    holes = [Disk([0.5, 0.5], 0.2, name="hole1"), Disk([1.4, 0.5], 0.3, name="hole2")]
    shape, rng = Rectangle([0, 0], [2, 1]) - holes[0] - holes[1], np.random.default_rng(6)
    shape.validate()
    pieces = shape.pieces()
    assert [p.name for p in pieces] == ["box.left", "box.right", "box.bottom", "box.top", "hole1", "hole2"]

    points, normals, index = shape.sample_boundary(8000, rng)
    for i, piece in enumerate(pieces):
        assert np.abs(piece.distance(tensor(points[index == i])).detach().numpy()).max() < 1e-12
    perimeter = 6 + 2 * math.pi * 0.5
    for i, hole in zip((4, 5), holes):
        assert np.mean(index == i) == pytest.approx(2 * math.pi * hole.radius / perimeter, abs=0.03)
        np.testing.assert_allclose(normals[index == i], (hole.center - points[index == i]) / hole.radius, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, rtol=1e-14)
    assert np.abs(shape.signed(tensor(points)).detach().numpy()).max() < 1e-12

    inside = shape.sample_interior(3000, rng)
    assert not any(hole._interior(inside).any() for hole in holes)
    assert_smooth_inside(shape, inside)


def test_boundary_measure_counts_only_what_lies_on_the_boundary():
    holes = Rectangle([0, 0], [2, 1]) - Disk([0.5, 0.5], 0.2, name="inner") - Disk([2, 0.5], 0.25, name="bite")
    assert holes.boundary_measure(["inner", "box.top"]) == 2 * math.pi * 0.2 + 2  # whole pieces: exact
    assert holes.boundary_measure(["bite"]) == pytest.approx(math.pi * 0.25, rel=0.02)  # half the disk is past the side
    assert holes.boundary_measure(["box.right"]) == pytest.approx(0.5, rel=0.02)  # the bite takes half the side
    assert Disk(name="rim").boundary_measure(["rim"]) == 2 * math.pi


def test_nested_composites_give_boundary_points_with_outward_normals():
    polygon_box = Polygon(L_SHAPE) | Box([1.5, 0.5], [3, 1.5])
    holed = (Rectangle([0, 0], [3, 2]) - Disk([0.8, 1.0], 0.4, name="d1")) - Disk([2.2, 1.0], 0.4, name="d2")
    crossing = Polygon(L_SHAPE) & Disk([0, 0], 1.5)
    rng = np.random.default_rng(7)
    for shape in (polygon_box, holed, crossing):
        shape.validate()
        points, normals, index = shape.sample_boundary(1500, rng)
        assert np.abs(shape.signed(tensor(points)).detach().numpy()).max() < 1e-12
        outward = shape.contains(points - 1e-4 * normals) & ~shape.contains(points + 1e-4 * normals)
        assert outward.mean() > 0.99  # all but points within 1e-4 of a corner
        distances = np.concatenate([shape.pieces()[i].distance(tensor(points[index == i])).detach().numpy() for i in set(index)])
        assert distances.max() < 1e-12
        assert_smooth_inside(shape, shape.sample_interior(500, rng))


def test_union_seam_is_flagged_and_never_sampled():
    union = Box([0, 0], [1.5, 1], name="a") | Box([1, 0], [2, 1], name="b")
    union.validate()
    assert {p.name for p in union.pieces() if p.inside_other} == {"a.right", "b.left"}
    parts = (union.a, union.b)
    points, normals, index = union.sample_boundary(6000, np.random.default_rng(8))
    assert not any(part._interior(points).any() for part in parts)
    names = np.array([p.name for p in union.pieces()])[index]
    assert not np.isin(names, ["a.right", "b.left"]).any()
    # a's sides outside b: left, bottom and top of [0, 1.5]: 4 of the union's perimeter 6 (the shared
    # stretches of bottom and top count once).
    assert np.mean(np.char.startswith(names, "a.")) == pytest.approx(4 / 6, abs=0.03)
    assert_smooth_inside(union, union.sample_interior(1000, np.random.default_rng(9)))


def test_same_seed_same_samples():
    shape = Polygon(L_SHAPE) - Disk([0.5, 0.5], 0.25)
    first = shape.sample_interior(300, np.random.default_rng(10)), shape.sample_boundary(300, np.random.default_rng(11))
    again = shape.sample_interior(300, np.random.default_rng(10)), shape.sample_boundary(300, np.random.default_rng(11))
    np.testing.assert_array_equal(first[0], again[0])
    for a, b in zip(first[1], again[1]):
        np.testing.assert_array_equal(a, b)


def test_refusals_are_one_line():
    assert "cross or touch" in refused(lambda: Polygon([(0, 0), (1, 1), (1, 0), (0, 1)]))
    assert "coincide" in refused(lambda: Polygon([(0, 0), (1, 0), (1, 1), (0, 0)]))
    assert "empty" in refused(lambda: (Disk() - Disk(radius=2.0, name="bigger")).validate())
    assert "empty" in refused(lambda: (Disk() - Disk(radius=2.0, name="bigger")).sample_interior(10, np.random.default_rng(0)))
    assert "same number of coordinates" in refused(lambda: Disk() | Box([0, 0, 0], [1, 1, 1]))
    assert "'disk'" in refused(lambda: Disk() - Disk())
    assert "disk" in refused(lambda: Disk().sample_boundary(10, np.random.default_rng(0), pieces=["rim"]))
    assert "radius > 0" in refused(lambda: Ball([0, 0, 0], 0.0))
    refused(lambda: Disk(radius=-1.0))
    assert "lower < upper" in refused(lambda: Box([0, 0], [1, 0]))
    assert "only touch" in refused(lambda: (Box([0, 0], [1, 1], name="a") | Box([1, 0], [2, 1], name="b")).validate())
