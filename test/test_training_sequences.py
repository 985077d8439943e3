"""MOT-format sequences: folders with seqinfo.ini, videos, frame ranges and identity offsets."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from training_support import make_mot_folder

from fairmot_ros.sequences import (
    PETS_SHA256,
    SequenceError,
    locate_pets_video,
    open_sequence,
    parse_range,
    sha256_of,
)


def test_folder_sequence_with_range_and_offset(tmp_path):
    seq = open_sequence(f"{make_mot_folder(tmp_path / 'toy')}:2-4", id_offset=100)
    assert (seq.name, seq.frame_rate, seq.width, seq.height) == ("TOY", 12.0, 128, 96)
    frames = list(seq.frames())
    assert [i for i, _ in frames] == [2, 3, 4]
    assert [int(img[0, 0, 0]) for _, img in frames] == [2, 3, 4]
    gt = seq.ground_truth()
    assert sorted(set(gt[:, 0].astype(int))) == [2, 3, 4]
    assert set(gt[:, 1].astype(int)) == {104, 109}
    assert len(seq.ground_truth(min_conf=0.5)) == 5  # the conf-0 row of frame 2 dropped


def test_video_sequence_frames_are_one_based(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    if not writer.isOpened():
        pytest.skip("no MJPG writer in this OpenCV build")
    for i in range(6):
        writer.write(np.full((48, 64, 3), 40 * i, np.uint8))
    writer.release()
    seq = open_sequence(f"{path}:3-5")
    assert seq.is_video and seq.frame_rate == 5.0 and seq.width == 64
    got = [(i, int(img.mean())) for i, img in seq.frames()]
    assert [i for i, _ in got] == [3, 4, 5]
    assert [abs(v - 40 * (i - 1)) < 6 for i, v in got] == [True] * 3
    with pytest.raises(SequenceError, match="no ground truth"):
        seq.ground_truth()


def test_bad_descriptions_give_clear_errors(tmp_path):
    assert parse_range("1-400") == (1, 400) and parse_range("401-") == (401, 0)
    for bad in ("0-3", "5-2", "a-b"):
        with pytest.raises(SequenceError):
            parse_range(bad)
    with pytest.raises(SequenceError, match="not found"):
        open_sequence(tmp_path / "nothing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SequenceError, match="neither"):
        open_sequence(tmp_path / "notes.txt")


def test_pets_video_checksum_when_present():
    path = locate_pets_video()
    if path is None:
        pytest.skip("PETS09-S2L1 video not fetched (python -m fairmot_ros.sequences fetch-pets)")
    assert sha256_of(path) == PETS_SHA256
