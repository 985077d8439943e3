"""MOT-format sequences (an ``img1/`` folder or a video, plus ``gt.txt``) and the PETS09-S2L1 video.

A sequence is described by a :class:`MotSequence`: where its frames come from, its ground truth,
an inclusive 1-based frame range and an identity offset so that several sequences can share one
identity classifier during training. Frames are always yielded as ``(frame_index, bgr_uint8)``
with ``frame_index`` counted from 1 in the *source* (the first decoded frame is 1), matching the
frame column of MOT ground truth.

PETS09-S2L1 (``vtest.avi``) ships in Debian's ``opencv-doc`` package. :func:`locate_pets_video`
finds it where the package is installed or in the repository's git-ignored ``.cache/`` folder,
and ``python -m fairmot_ros.sequences fetch-pets`` puts it there with ``apt-get download`` +
``dpkg-deb -x`` (no root needed) and checks its sha256.
"""

from __future__ import annotations

import argparse
import configparser
import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from fairmot_ros.evaluation.mot_io import CONF, FRAME, TRACK_ID, read_mot, select_frames
from fairmot_ros.locations import cache_dir, reference_data_dir

CACHE_DIR = cache_dir()
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif")  # the original LoadImages list (spec 2.3)
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm")

PETS_SHA256 = "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"
PETS_PACKAGE = "opencv-doc"
PETS_MEMBER = Path("usr/share/doc/opencv-doc/examples/data/vtest.avi")
PETS_SYSTEM_PATH = Path("/") / PETS_MEMBER
PETS_CACHE_PATH = CACHE_DIR / "pets09-s2l1" / "vtest.avi"
PETS_GT_PATH = reference_data_dir() / "pets09-s2l1" / "gt.txt"
PETS_FRAMES = 795
PETS_FPS = 10.0  # as stored in vtest.avi (the capture itself was 7 fps)
# Frames 1-400 may be used for training and tuning; 401-795 are the held-out report range.
PETS_TRAIN_RANGE = (1, 400)
PETS_TEST_RANGE = (401, 795)


class SequenceError(ValueError):
    """A sequence description or its files cannot be used."""


@dataclass(frozen=True)
class MotSequence:
    """One MOT-format sequence restricted to an inclusive 1-based frame range.

    ``last = 0`` means "up to the end of the source". ``id_offset`` is added to every
    ground-truth identity so several sequences can be trained with one classifier.
    """

    source: Path
    gt_path: Path | None = None
    first: int = 1
    last: int = 0
    frame_rate: float = 0.0
    width: int = 0
    height: int = 0
    name: str = ""
    id_offset: int = 0

    @property
    def is_video(self) -> bool:
        return self.source.is_file()

    def frames(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(frame_index, bgr)`` for every frame of the range, in order."""
        if self.is_video:
            yield from _video_frames(self.source, self.first, self.last)
        else:
            yield from _folder_frames(self.source, self.first, self.last)

    def ground_truth(self, min_conf: float | None = None) -> np.ndarray:
        """MOT rows of the range with ``id_offset`` applied (ids < 0 stay unknown).

        ``min_conf`` drops rows whose ``conf`` flag is below it (MOT17 marks ignored boxes 0).
        """
        if self.gt_path is None:
            raise SequenceError(f"sequence {self.name or self.source} has no ground truth")
        rows = read_mot(self.gt_path)
        last = self.last if self.last > 0 else int(rows[:, FRAME].max(initial=0))
        rows = select_frames(rows, self.first, last).copy()
        if min_conf is not None:
            rows = rows[rows[:, CONF] >= min_conf]
        known = rows[:, TRACK_ID] >= 0
        rows[known, TRACK_ID] += self.id_offset
        return rows

    def with_range(self, first: int, last: int) -> MotSequence:
        return replace(self, first=first, last=last)


def read_seqinfo(path: str | Path) -> dict[str, str]:
    """The ``[Sequence]`` section of a MOTChallenge ``seqinfo.ini`` (keys lower-cased)."""
    parser = configparser.ConfigParser()
    parser.read(path)
    if not parser.has_section("Sequence"):
        raise SequenceError(f"{path} has no [Sequence] section")
    return {key.lower(): value for key, value in parser.items("Sequence")}


def parse_range(text: str) -> tuple[int, int]:
    """``"1-400"`` -> (1, 400); ``"401-"`` -> (401, 0) meaning "to the end"."""
    first_text, sep, last_text = text.partition("-")
    try:
        first = int(first_text) if first_text else 1
        last = int(last_text) if sep and last_text else (0 if sep else first)
    except ValueError:
        raise SequenceError(f"frame range {text!r} is not FIRST-LAST") from None
    if first < 1 or (last and last < first):
        raise SequenceError(f"frame range {text!r} is empty or not 1-based")
    return first, last


def open_sequence(
    spec: str | Path, gt: str | Path | None = None, id_offset: int = 0
) -> MotSequence:
    """Build a :class:`MotSequence` from ``PATH[:FIRST-LAST]``.

    ``PATH`` is a MOTChallenge sequence folder (``img1/``, ``gt/gt.txt``, optional
    ``seqinfo.ini``), an image folder, a video file, or ``pets`` for PETS09-S2L1. ``gt``
    overrides the ground-truth file (needed for a bare video).
    """
    text = str(spec)
    first, last = 1, 0
    head, sep, tail = text.rpartition(":")
    if sep and tail and tail[0].isdigit() and "/" not in tail:
        text = head
        first, last = parse_range(tail)
    if text.lower() in ("pets", "pets09-s2l1"):
        video = locate_pets_video()
        if video is None:
            raise SequenceError(
                "PETS09-S2L1 video not found; run: python -m fairmot_ros.sequences fetch-pets"
            )
        gt_path = Path(gt) if gt else (PETS_GT_PATH if PETS_GT_PATH.is_file() else None)
        return MotSequence(video, gt_path, first, last, PETS_FPS, 768, 576, "PETS09-S2L1",
                           id_offset)
    path = Path(text)
    if not path.exists():
        raise SequenceError(f"sequence source not found: {path}")
    name = path.stem if path.is_file() else path.name
    frame_rate, width, height = 0.0, 0, 0
    source, gt_path = path, Path(gt) if gt else None
    if path.is_dir():
        if (path / "img1").is_dir():
            source = path / "img1"
        if gt_path is None and (path / "gt" / "gt.txt").is_file():
            gt_path = path / "gt" / "gt.txt"
        if (path / "seqinfo.ini").is_file():
            info = read_seqinfo(path / "seqinfo.ini")
            frame_rate = float(info.get("framerate", 0) or 0)
            width = int(info.get("imwidth", 0) or 0)
            height = int(info.get("imheight", 0) or 0)
            name = info.get("name", name)
    elif path.suffix.lower() not in VIDEO_EXTENSIONS:
        raise SequenceError(f"{path} is neither a folder nor a video ({VIDEO_EXTENSIONS})")
    if path.is_file() and (frame_rate <= 0 or width <= 0):
        frame_rate, width, height = _video_properties(path)
    if gt_path is not None and not gt_path.is_file():
        raise SequenceError(f"ground truth not found: {gt_path}")
    return MotSequence(source, gt_path, first, last, frame_rate, width, height, name, id_offset)


def _video_properties(path: Path) -> tuple[float, int, int]:
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise SequenceError(f"cannot open video {path}")
        fps = float(round(capture.get(cv2.CAP_PROP_FPS)))
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        capture.release()
    return fps, width, height


def _video_frames(path: Path, first: int, last: int) -> Iterator[tuple[int, np.ndarray]]:
    """Decode sequentially from the start: seeking in XVID is not frame-exact."""
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise SequenceError(f"cannot open video {path}")
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            index += 1
            if index < first:
                continue
            if last and index > last:
                break
            yield index, frame
    finally:
        capture.release()


def _folder_frames(folder: Path, first: int, last: int) -> Iterator[tuple[int, np.ndarray]]:
    """Images sorted by name; the i-th file (1-based) is frame i, as in MOTChallenge."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise SequenceError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}")
    for index, file in enumerate(files, start=1):
        if index < first:
            continue
        if last and index > last:
            break
        image = cv2.imread(str(file), cv2.IMREAD_COLOR)
        if image is None:
            raise SequenceError(f"cannot read image {file}")
        yield index, image


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate_pets_video() -> Path | None:
    """The PETS09-S2L1 video: the installed ``opencv-doc`` copy, else the repository cache."""
    for candidate in (PETS_SYSTEM_PATH, PETS_CACHE_PATH):
        if candidate.is_file():
            return candidate
    return None


def fetch_pets_video(dest: Path = PETS_CACHE_PATH) -> Path:
    """Download ``opencv-doc`` with apt, unpack it without installing, keep only ``vtest.avi``.

    The file is verified against the known sha256 before it is moved into place, so a
    truncated or different video never reaches training or evaluation.
    """
    if dest.is_file() and sha256_of(dest) == PETS_SHA256:
        return dest
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise SequenceError("apt-get and dpkg-deb are needed to fetch the PETS09-S2L1 video")
    with tempfile.TemporaryDirectory(prefix="pets-") as tmp:
        work = Path(tmp)
        subprocess.run(["apt-get", "download", PETS_PACKAGE], cwd=work, check=True)
        debs = sorted(work.glob(f"{PETS_PACKAGE}_*.deb"))
        if not debs:
            raise SequenceError(f"apt-get download {PETS_PACKAGE} produced no .deb")
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(work / "x")], check=True)
        video = work / "x" / PETS_MEMBER
        if not video.is_file():
            raise SequenceError(f"{debs[-1].name} does not contain {PETS_MEMBER}")
        digest = sha256_of(video)
        if digest != PETS_SHA256:
            raise SequenceError(f"vtest.avi sha256 {digest} != expected {PETS_SHA256}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(video), dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fairmot_ros.sequences")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch-pets", help="download PETS09-S2L1 (vtest.avi) into .cache/")
    sub.add_parser("locate-pets", help="print the PETS09-S2L1 video path or exit 1")
    args = parser.parse_args(argv)
    if args.command == "fetch-pets":
        existing = locate_pets_video()
        path = existing if existing is not None else fetch_pets_video()
        print(path)
        return 0
    path = locate_pets_video()
    if path is None:
        print("PETS09-S2L1 video not found", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
