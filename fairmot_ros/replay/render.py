"""What a run's outputs look like: a video, a snapshot, a contact sheet.

ROS-free on purpose: it works on :class:`fairmot_ros.replay.results.FrameResult` records (what
one ``Detection2DArray`` said about one frame, as recorded in an output bag or received by the
demo), so the pictures show exactly what the node published and nothing recomputed here.
:func:`render_bags` draws a recorded run on the frames of its input bag
(``fairmot-bag render``). Drawing goes through :func:`fairmot_ros.visualize.
draw_tracks` with the published id strings, so an id has the same colour as on the node's own
``~/debug_image``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fairmot_ros.bags import BagReader
from fairmot_ros.replay.eval import read_recorded_run
from fairmot_ros.replay.frames import bag_frames
from fairmot_ros.replay.results import FrameResult
from fairmot_ros.stamps import NS_PER_SECOND
from fairmot_ros.visualize import TrailHistory, draw_tracks

__all__ = [
    "RenderedFiles",
    "busiest_frame",
    "open_video_writer",
    "render_bags",
    "render_outputs",
]

# Codecs tried in order; opencv-python(-headless) wheels bundle FFmpeg with mpeg4 and mjpeg.
VIDEO_CODECS: tuple[tuple[str, str], ...] = (("mp4v", ".mp4"), ("MJPG", ".avi"))
CONTACT_SHEET_GRID = (4, 3)  # columns, rows
CONTACT_SHEET_SCALE = 1.0 / 3.0


@dataclass
class RenderedFiles:
    """Paths written by :func:`render_outputs` (``video`` is None when no codec opened)."""

    video: Path | None
    snapshot: Path | None
    snapshot_frame: int | None
    contact_sheet: Path | None
    frames_drawn: int = 0
    frames_without_output: list[int] = field(default_factory=list)


def busiest_frame(results: Mapping[int, FrameResult]) -> int | None:
    """The frame with the most published tracks (the earliest of equals), for the snapshot."""
    if not results:
        return None
    return max(sorted(results), key=lambda frame: len(results[frame]))


def open_video_writer(
    stem: Path, fps: float, size: tuple[int, int]
) -> tuple[cv2.VideoWriter | None, Path | None]:
    """The first of :data:`VIDEO_CODECS` that opens, writing ``stem`` + its extension."""
    for fourcc, extension in VIDEO_CODECS:
        path = stem.with_suffix(extension)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if writer.isOpened():
            return writer, path
        writer.release()
        path.unlink(missing_ok=True)
    return None, None


def _caption(canvas: np.ndarray, text: str, scale: float | None = None) -> None:
    """A darkened band with white text across the top of the frame (drawn in place)."""
    scale = scale or max(0.45, canvas.shape[1] / 1400.0)
    (_, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    band = th + base + 8
    canvas[:band] = (canvas[:band] * 0.35).astype(np.uint8)
    cv2.putText(canvas, text, (6, band - base - 3), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), 1, cv2.LINE_AA)


def _sheet_frames(frames: list[int], count: int) -> set[int]:
    if len(frames) <= count:
        return set(frames)
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    return {frames[i] for i in picks}


def _contact_sheet(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    height, width = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    sheet = np.zeros((rows * height, columns * width, 3), np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        sheet[r * height : (r + 1) * height, c * width : (c + 1) * width] = tile
    return sheet


def render_outputs(
    frames: Iterable[tuple[int, np.ndarray]],
    results: Mapping[int, FrameResult],
    out_dir: Path,
    fps: float,
    title: str,
    trail_length: int = 20,
    video_stem: str = "tracked",
) -> RenderedFiles:
    """Draw the node's tracks on every frame; write the video, snapshot and contact sheet.

    ``frames`` are the frames that were sent, in order. A frame without an answer (dropped or
    timed out) is shown undrawn with "no output" in its caption, so the video never hides a
    gap. The snapshot is the frame with the most tracks; the contact sheet samples the run
    evenly so that a viewer without a video player still sees the tracks move.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    frame_list = list(frames)
    rendered = RenderedFiles(None, None, None, None)
    if not frame_list:
        return rendered
    snapshot_frame = busiest_frame(results)
    columns, rows = CONTACT_SHEET_GRID
    sheet_picks = _sheet_frames([index for index, _ in frame_list], columns * rows)
    trails = TrailHistory(max_points=trail_length)
    height, width = frame_list[0][1].shape[:2]
    writer, rendered.video = open_video_writer(out_dir / video_stem, fps, (width, height))
    tiles: list[np.ndarray] = []
    try:
        for index, image in frame_list:
            result = results.get(index)
            if result is None:
                canvas = image.copy()
                rendered.frames_without_output.append(index)
                text = f"{title}  frame {index}  NO OUTPUT from the node"
            else:
                canvas = draw_tracks(image, result.tlwh, result.ids, result.scores, trails)
                text = f"{title}  frame {index}  {len(result)} tracks"
            _caption(canvas, text)
            if writer is not None:
                writer.write(canvas)
            rendered.frames_drawn += 1
            if index == snapshot_frame:
                rendered.snapshot = out_dir / "snapshot.png"
                rendered.snapshot_frame = index
                cv2.imwrite(str(rendered.snapshot), canvas)
            if index in sheet_picks:
                tile = cv2.resize(canvas, None, fx=CONTACT_SHEET_SCALE, fy=CONTACT_SHEET_SCALE,
                                  interpolation=cv2.INTER_AREA)
                count = "no output" if result is None else f"{len(result)} tracks"
                _caption(tile, f"frame {index}: {count}", scale=0.45)
                tiles.append(tile)
    finally:
        if writer is not None:
            writer.release()
    rendered.contact_sheet = out_dir / "contact_sheet.png"
    cv2.imwrite(str(rendered.contact_sheet), _contact_sheet(tiles, columns))
    return rendered


def render_bags(
    output_bag: Path, input_bag: Path, video: Path, image_topics: list[str] | None = None,
    detections_topic: str | None = None, title: str | None = None,
) -> RenderedFiles:
    """Draw a recorded run (output bag) on the images of its input bag.

    The video goes to ``video`` (its suffix is replaced by the codec's when mp4 cannot be
    written); the snapshot and contact sheet go beside it. The frame rate is the input's,
    from its median stamp step.
    """
    run = read_recorded_run(output_bag, input_bag, detections_topic, image_topics)
    stamps = sorted(run.frames.by_stamp)
    steps = np.diff(np.asarray(stamps, dtype=np.float64))
    fps = NS_PER_SECOND / float(np.median(steps)) if steps.size and np.median(steps) > 0 else 10.0
    with BagReader(input_bag) as reader:
        frames = ((run.frames.by_stamp[f.stamp_ns], f.image)
                  for f in bag_frames(reader, run.image_topic))
        return render_outputs(frames, run.results, video.parent, fps,
                              title or f"{input_bag.name} via tracker_node",
                              video_stem=video.stem)
