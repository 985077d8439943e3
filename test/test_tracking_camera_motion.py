"""Camera-motion compensation: warp estimation, Kalman-state warping, tracker integration."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from fairmot_ros.tracking import JDETracker, TrackerConfig
from fairmot_ros.tracking.camera_motion import (
    CameraMotionEstimator,
    check_warp,
    describe_warp,
    estimator_for,
    warp_kalman_states,
)
from fairmot_ros.tracking.kalman import KalmanFilter
from fairmot_ros.tracking.synthetic import random_scene


def similarity(tx: float, ty: float, deg: float = 0.0, scale: float = 1.0) -> np.ndarray:
    a = math.radians(deg)
    c, s = scale * math.cos(a), scale * math.sin(a)
    return np.array([[c, -s, tx], [s, c, ty]])


def textured(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A random, smooth texture: corners everywhere, like a cluttered background."""
    rng = np.random.default_rng(seed)
    coarse = (rng.random((height // 8, width // 8, 3)) * 255).astype(np.uint8)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(image, (0, 0), 1.5)


def corner_error(a: np.ndarray, b: np.ndarray, width: int, height: int) -> float:
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], dtype=float)
    diff = corners @ (a[:, :2] - b[:, :2]).T + (a[:, 2] - b[:, 2])
    return float(np.linalg.norm(diff, axis=1).max())


# ----- estimator ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "warp",
    [similarity(14.0, -9.0), similarity(-30.0, 12.0, deg=1.5), similarity(6.0, 4.0, scale=1.04)],
    ids=["shift", "shift+roll", "zoom"],
)
def test_known_warp_is_recovered_at_1080p(warp):
    width, height = 1920, 1080
    first = textured(width, height)
    second = cv2.warpAffine(first, warp, (width, height), borderMode=cv2.BORDER_REFLECT)
    estimator = CameraMotionEstimator()
    assert estimator.estimate(first) is None  # nothing to compare the first frame with
    estimate = estimator.estimate_detailed(second)
    assert estimate.status == "ok"
    assert estimate.inliers >= 50
    # Within 2 px anywhere in a 1920x1080 frame (the fit runs on a 320-wide copy).
    assert corner_error(estimate.warp, warp, width, height) < 2.0
    summary = describe_warp(estimate.warp)
    expected = describe_warp(warp)
    assert summary.rotation_deg == pytest.approx(expected.rotation_deg, abs=0.1)
    assert summary.scale == pytest.approx(expected.scale, abs=0.005)


def test_people_inside_the_boxes_do_not_pull_the_estimate():
    """Half the image is a 'crowd' moving its own way; masking it leaves the background."""
    width, height = 960, 540
    background = textured(width, height, seed=1)
    crowd = textured(width, height, seed=2)
    camera = similarity(10.0, 5.0)
    boxes = np.array([[0, 0, width // 2, height]], dtype=float)

    def frame(bg: np.ndarray, crowd_shift: float) -> np.ndarray:
        image = bg.copy()
        moved = np.roll(crowd, int(crowd_shift), axis=1)
        image[:, : width // 2] = moved[:, : width // 2]
        return image

    first = frame(background, 0)
    second = frame(
        cv2.warpAffine(background, camera, (width, height), borderMode=cv2.BORDER_REFLECT), -25
    )
    masked = CameraMotionEstimator()
    masked.estimate(first, boxes)
    warp = masked.estimate(second, boxes)
    assert corner_error(warp, camera, width, height) < 1.5
    # The crowd moves the other way: without the mask its features are a large share and
    # the fitted motion is measurably off.
    unmasked = CameraMotionEstimator(ransac_threshold=30.0)
    unmasked.estimate(first)
    assert corner_error(unmasked.estimate(second), camera, width, height) > 3.0


def test_failure_falls_back_to_identity_and_is_counted():
    flat = np.full((480, 640, 3), 90, dtype=np.uint8)
    estimator = CameraMotionEstimator()
    estimator.estimate(flat)
    estimate = estimator.estimate_detailed(flat)
    np.testing.assert_array_equal(estimate.warp, np.eye(2, 3))
    assert estimate.status == "too_few_features"
    assert estimator.failures == 1


def test_a_new_image_size_or_reset_starts_over():
    estimator = CameraMotionEstimator()
    estimator.estimate(textured(640, 480))
    assert estimator.estimate(textured(800, 600)) is None
    estimator.reset()
    assert estimator.estimate(textured(800, 600)) is None
    assert estimator.estimate(textured(800, 600)) is not None


@pytest.mark.parametrize(
    "image", [np.zeros((480, 640, 3), np.float32), np.zeros((480, 640, 4), np.uint8), "frame"]
)
def test_bad_images_are_refused_with_a_reason(image):
    with pytest.raises(ValueError, match="image must be"):
        CameraMotionEstimator().estimate(image)


def test_estimator_for_methods():
    assert estimator_for("none") is None
    assert estimator_for("sparse_flow").model == "similarity"
    assert estimator_for("sparse_flow_affine").model == "affine"
    with pytest.raises(ValueError, match="camera_motion"):
        estimator_for("gyro")


# ----- warping Kalman states -----------------------------------------------------------------
def _states(n: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    xyah = np.column_stack(
        [rng.uniform(100, 900, n), rng.uniform(100, 500, n), rng.uniform(0.3, 0.6, n),
         rng.uniform(60, 200, n)]
    )  # fmt: skip
    means, covs = KalmanFilter().initiate(xyah)
    means[:, 4:6] = rng.normal(0, 3, (n, 2))
    means, covs = KalmanFilter().predict(means, covs)
    return means, covs


def test_warped_boxes_follow_the_image():
    means, covs = _states()
    warp = similarity(25.0, -12.0, deg=2.0, scale=1.1)
    new_means, new_covs = warp_kalman_states(means, covs, warp)
    centres = means[:, :2] @ warp[:, :2].T + warp[:, 2]
    np.testing.assert_allclose(new_means[:, :2], centres)
    np.testing.assert_allclose(new_means[:, 3], means[:, 3] * 1.1)  # height scales with zoom
    np.testing.assert_allclose(new_means[:, 2], means[:, 2])  # aspect kept by a similarity
    np.testing.assert_allclose(new_means[:, 4:6], means[:, 4:6] @ warp[:, :2].T)
    # Position variance scales with zoom squared; the covariances stay symmetric.
    np.testing.assert_allclose(np.trace(new_covs[:, :2, :2], axis1=1, axis2=2),
                               1.21 * np.trace(covs[:, :2, :2], axis1=1, axis2=2))
    np.testing.assert_allclose(new_covs, new_covs.transpose(0, 2, 1), atol=1e-9)


def test_pure_translation_leaves_covariances_and_identity_leaves_everything():
    means, covs = _states()
    shifted, shifted_covs = warp_kalman_states(means, covs, similarity(40.0, -3.0))
    np.testing.assert_array_equal(shifted_covs, covs)
    np.testing.assert_allclose(shifted[:, :2], means[:, :2] + [40.0, -3.0])
    same, same_covs = warp_kalman_states(means, covs, np.eye(2, 3))
    np.testing.assert_array_equal(same, means)
    np.testing.assert_array_equal(same_covs, covs)


def test_affine_stretch_changes_aspect():
    means, covs = _states()
    warp = np.array([[1.2, 0.0, 0.0], [0.0, 0.9, 0.0]])
    new_means, _ = warp_kalman_states(means, covs, warp)
    np.testing.assert_allclose(new_means[:, 3], means[:, 3] * 0.9)
    np.testing.assert_allclose(new_means[:, 2] * new_means[:, 3],
                               means[:, 2] * means[:, 3] * 1.2)  # width


@pytest.mark.parametrize(
    "warp, reason",
    [(np.eye(3), "2x3"), (np.array([[1, 0, np.nan], [0, 1, 0]]), "NaN"),
     (np.zeros((2, 3)), "degenerate")],
)
def test_bad_warps_are_refused(warp, reason):
    with pytest.raises(ValueError, match=reason):
        check_warp(warp)
    tracker = JDETracker()
    with pytest.raises(ValueError, match=reason):
        tracker.update(np.zeros((0, 4)), np.zeros(0), np.zeros((0, 8)), 0.0, warp=warp)


# ----- the tracker -----------------------------------------------------------------------------
def _people(n: int = 4, dim: int = 16, seed: int = 3):
    rng = np.random.default_rng(seed)
    embeddings = rng.normal(size=(n, dim))
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    x = 150.0 + 220.0 * np.arange(n)
    boxes = np.column_stack([x, np.full(n, 200.0), x + 45.0, np.full(n, 310.0)])
    return boxes, embeddings


def _run_panning(with_warp: bool) -> list[list[int]]:
    """People standing still while the camera pans: 0 px/frame, then 60 px/frame left,
    with a 25 px shake every other frame. Every box moves only because the camera does."""
    boxes, embeddings = _people()
    tracker = JDETracker(TrackerConfig(frame_rate=10.0))
    offset = np.zeros(2)
    ids = []
    for frame in range(30):
        step = np.zeros(2)
        if frame >= 10:
            step = np.array([-60.0, 25.0 if frame % 2 else -25.0])
        offset += step
        shown = boxes + np.tile(offset, 2)
        warp = similarity(*step) if with_warp else None
        tracks = tracker.update(shown, np.full(len(shown), 0.9), embeddings, frame / 10.0,
                                warp=warp)
        ids.append(sorted(t.track_id for t in tracks))
    return ids


def test_a_track_moved_only_by_the_camera_keeps_its_id_with_compensation():
    compensated = _run_panning(with_warp=True)
    assert all(frame_ids == [1, 2, 3, 4] for frame_ids in compensated)


def test_without_compensation_the_same_motion_breaks_the_ids():
    """The control: the test above can fail. The original tracker loses everyone once the
    camera moves, and the new tentative tracks never overlap twice to be confirmed."""
    plain = _run_panning(with_warp=False)
    assert plain[9] == [1, 2, 3, 4]
    assert all(ids != [1, 2, 3, 4] for ids in plain[10:])


def test_warp_none_and_identity_give_the_original_tracker_exactly():
    scene = random_scene(12, 120, seed=5, dim=32, false_positive_rate=0.5)
    outputs = []
    for warp in (None, np.eye(2, 3)):
        tracker = JDETracker()
        frames = []
        for k, f in enumerate(scene):
            tracks = tracker.update(f.boxes, f.scores, f.embeddings, k / 30.0, warp=warp)
            frames.append([(t.track_id, *t.tlbr.tolist()) for t in tracks])
        outputs.append(frames)
    assert outputs[0] == outputs[1]
    assert TrackerConfig().camera_motion == "none"


def test_config_refuses_unknown_camera_motion():
    assert TrackerConfig(camera_motion="sparse_flow").validate() == []
    reasons = TrackerConfig(camera_motion="gyro").validate()
    assert reasons and "camera_motion" in reasons[0]


def test_benchmark_document_reports_cost_and_accuracy():
    """The benchmark module's JSON (no timing asserted: only that it measures what it says)."""
    import argparse

    from fairmot_ros.bench import camera_motion as bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    report = bench.run(parser.parse_args(["--sizes", "480x270", "--frames", "6", "--tracks", "5"]))
    (result,) = report["results"]
    assert result["size"] == "480x270" and result["frames"] == 6
    assert result["estimate_ms"]["p50_ms"] > 0 and result["estimate_cpu_ms"]["p50_ms"] > 0
    assert result["corner_error_px"]["mean"] < 1.0  # the known per-frame motion is recovered
    assert report["kalman_warp_ms"]["tracks"] == 5
    with pytest.raises(ValueError, match="WxH"):
        bench.run(parser.parse_args(["--sizes", "big"]))


def test_too_small_image_gives_no_estimate_and_forgets_the_previous_frame():
    """A frame too small for corners (a thin or tiny image the node still tracks) yields no
    warp instead of an error, and the next normal frame counts as a first frame again."""
    rng = np.random.default_rng(3)
    frame = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    estimator = CameraMotionEstimator()
    estimator.estimate(frame)
    tiny = estimator.estimate_detailed(frame[:10, :200])
    assert tiny.warp is None and tiny.status == "too_small"
    after = estimator.estimate_detailed(frame)
    assert after.warp is None and after.status == "first_frame"
