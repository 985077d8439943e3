"""The re-identification gallery: people who come back after their track was removed get their id.

Scenes are fed to the real ``CameraPipeline`` (the real ``JDETracker``) as detections; the
gallery must rename only, leave the tracker's decisions alone and keep published ids unique."""

from __future__ import annotations

import numpy as np
import pytest

from fairmot_ros.decode import Detections
from fairmot_ros.pipeline import CameraPipeline
from fairmot_ros.tracking import TrackerConfig
from fairmot_ros.tracking.reid_gallery import PublishedTrack, ReidGallery
from fairmot_ros.tracking.synthetic import random_scene

RATE = 10.0  # fps: the lost-track budget is 10 frames (1 s)
IMAGE = np.zeros((480, 640, 3), np.uint8)


def unit(seed: int, dim: int = 64) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=dim)
    return (v / np.linalg.norm(v)).astype(np.float32)


def frame(people: list[tuple[float, np.ndarray]]) -> Detections:
    """One detection per (left edge, embedding), 40x100 px boxes at y 100."""
    if not people:
        return Detections.empty(64)
    boxes = np.array([[x, 100, x + 40, 200] for x, _ in people], np.float32)
    return Detections(boxes, np.full(len(people), 0.9, np.float32),
                      np.stack([e for _, e in people]))  # fmt: skip


def run(config: TrackerConfig, frames: list[Detections]):
    pipeline = CameraPipeline(config)
    outcomes = [pipeline.step(IMAGE, i / RATE, detections=d) for i, d in enumerate(frames)]
    return pipeline, outcomes


def ids(outcome) -> dict[str, int]:
    """Published id by place: "A" (x < 200, where A walks), "B" (x 250), "back" (x 400)."""
    def place(x: float) -> str:
        return "A" if x < 200 else "B" if x < 350 else "back"

    return {place(float(t.tlwh[0])): t.track_id for t in outcome.tracks}


A, B, C = unit(1), unit(2), unit(3)


def leave_and_return(gap: int, returner: np.ndarray = A) -> list[Detections]:
    """A walks at x 100 for 10 frames, is away ``gap`` frames, then ``returner`` stands at
    x 400; B stays at x 250 throughout."""
    frames = [frame([(100 + i, A), (250, B)]) for i in range(10)]
    frames += [frame([(250, B)]) for _ in range(gap)]
    frames += [frame([(400, returner), (250, B)]) for _ in range(10)]
    return frames


def test_off_by_default_a_returning_person_gets_a_new_id():
    _, outcomes = run(TrackerConfig(frame_rate=RATE), leave_and_return(gap=30))
    first, last = ids(outcomes[5]), ids(outcomes[-1])
    assert last["back"] not in first.values() and last["B"] == first["B"]
    assert all(o.events.reidentified == () for o in outcomes)


def test_a_returning_person_gets_the_earlier_id_back():
    config = TrackerConfig(frame_rate=RATE, reid_memory_s=30.0, reid_max_distance=0.1)
    pipeline, outcomes = run(config, leave_and_return(gap=30))
    first, last = ids(outcomes[5]), ids(outcomes[-1])
    assert last["back"] == first["A"] and last["B"] == first["B"]
    found = [r for o in outcomes for r in o.events.reidentified]
    assert len(found) == 1 and found[0].restored_id == first["A"]
    assert found[0].distance < 1e-6 and 1.5 < found[0].absent_s < 4.0
    # The tracker's own ids are untouched: the returning track is a new one inside it.
    (shown,) = [t for t in outcomes[-1].tracks if t.track_id == first["A"]]
    assert isinstance(shown, PublishedTrack) and shown.internal_id != shown.track_id
    assert shown.internal_id in {t.track_id for t in pipeline.tracker.all_tracks()}
    # Store and reported tracks agree on the published ids.
    assert {t.track_id for t in outcomes[-1].tracks} <= {t.track_id for t in outcomes[-1].store}


def test_a_stranger_or_a_late_return_is_not_given_the_id():
    config = TrackerConfig(frame_rate=RATE, reid_memory_s=30.0, reid_max_distance=0.1)
    _, outcomes = run(config, leave_and_return(gap=30, returner=C))
    assert ids(outcomes[-1])["back"] not in ids(outcomes[5]).values()
    short = config.with_values(reid_memory_s=1.5)  # removed after 1 s, back 2 s later
    _, outcomes = run(short, leave_and_return(gap=30))
    assert ids(outcomes[-1])["back"] not in ids(outcomes[5]).values()


def test_the_output_is_the_original_but_for_the_ids():
    frames = leave_and_return(gap=30)
    _, plain = run(TrackerConfig(frame_rate=RATE), frames)
    _, gallery = run(TrackerConfig(frame_rate=RATE, reid_memory_s=30.0), frames)
    for a, b in zip(plain, gallery, strict=True):
        assert [t.tlwh.tolist() for t in a.tracks] == [t.tlwh.tolist() for t in b.tracks]
        assert [t.score for t in a.store] == [t.score for t in b.store]


def test_published_ids_stay_unique_in_a_crowd():
    """Walkers leave, come back and are occluded, with noisy embeddings and false positives: no
    frame ever shows one published id twice, and a restored id is never a live track's."""
    scene = random_scene(12, 400, seed=7, dim=64, image_size=(640, 480), occlusion_rate=0.03,
                         false_positive_rate=0.5, embedding_noise=0.3,
                         occlusion_frames=(5, 80))  # fmt: skip
    config = TrackerConfig(frame_rate=RATE, reid_memory_s=60.0, reid_max_distance=0.6)
    pipeline = CameraPipeline(config)
    restored = 0
    for i, f in enumerate(scene):
        outcome = pipeline.step(IMAGE, i / RATE, detections=Detections(f.boxes, f.scores,
                                                                       f.embeddings))
        shown = [t.track_id for t in outcome.store]
        assert len(shown) == len(set(shown)), f"frame {i}: {shown}"
        internal = {t.track_id for t in pipeline.tracker.all_tracks()}
        for found in outcome.events.reidentified:
            restored += 1
            # The id given back is a removed track's: no live track of the tracker has it.
            assert found.restored_id not in internal and found.track_id in internal
    assert restored > 0  # the scene does exercise the gallery


def test_reset_and_an_emptied_store_forget_the_gallery():
    config = TrackerConfig(frame_rate=RATE, reid_memory_s=30.0)
    frames = leave_and_return(gap=30)
    pipeline = CameraPipeline(config)
    for i, d in enumerate(frames[:25]):
        pipeline.step(IMAGE, i / RATE, detections=d)
    assert pipeline.gallery.remembered == 1
    pipeline.reset()
    assert pipeline.gallery.remembered == 0
    for i, d in enumerate(frames[:25]):
        pipeline.step(IMAGE, i / RATE, detections=d)
    # The stamps go back (a bag played again): ids restart at 1, so does the gallery.
    outcome = pipeline.step(IMAGE, 0.0, detections=frames[0])
    assert outcome.events.time_reversal and pipeline.gallery.remembered == 0
    # Switching the gallery off publishes the tracker's own ids again.
    assert pipeline.configure(config.with_values(reid_memory_s=0.0)) is False
    assert pipeline.gallery is None
    # And on again at run time (a parameter change): a fresh gallery with the new values.
    pipeline.configure(config.with_values(reid_memory_s=10.0, reid_max_distance=0.3))
    assert (pipeline.gallery.memory_s, pipeline.gallery.max_distance) == (10.0, 0.3)
    pipeline.configure(config.with_values(reid_memory_s=20.0, max_tracks=50))
    assert (pipeline.gallery.memory_s, pipeline.gallery.capacity) == (20.0, 50)


@pytest.mark.parametrize("bad", [
    {"reid_memory_s": -1.0}, {"reid_memory_s": float("nan")}, {"reid_max_distance": 0.0},
    {"reid_max_distance": 2.5},
])  # fmt: skip
def test_bad_settings_are_refused_with_a_reason(bad):
    (name,) = bad
    reasons = TrackerConfig(**bad).validate()
    assert any(name in r for r in reasons), reasons
    with pytest.raises(ValueError):
        ReidGallery(bad.get("reid_memory_s", 1.0), bad.get("reid_max_distance", 0.1))


def test_the_gallery_forgets_the_oldest_beyond_its_capacity():
    from types import SimpleNamespace

    gallery = ReidGallery(memory_s=100.0, max_distance=0.1, capacity=2)
    people = [SimpleNamespace(track_id=k, smooth_feat=unit(10 + k)) for k in (1, 2, 3)]
    gallery.update(0.0, people, people)  # all three published
    for k, stamp in ((0, 1.0), (1, 2.0), (2, 3.0)):  # removed one after the other
        gallery.update(stamp, [], people[k + 1:])
    assert gallery.remembered == 2
    # The first person (removed first) is forgotten; the other two can still be found.
    back = [SimpleNamespace(track_id=10 + k, smooth_feat=unit(10 + k)) for k in (1, 2, 3)]
    found = gallery.update(4.0, back, back)
    assert sorted((r.track_id, r.restored_id) for r in found) == [(12, 2), (13, 3)]
    assert [gallery.published_id(t) for t in back] == [11, 2, 3]
