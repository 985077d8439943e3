"""MOT-format sequences as FairMOT training samples (letterboxed image + targets).

Frames are decoded once into a uint8 array cached under ``.cache/frames`` (memory-mapped), so
epochs after the first cost no video decoding. Identities are renumbered to a contiguous range
shared by all sequences (each sequence gets its own offset, as the original per-dataset offsets);
in single-image mode every box is its own identity, the paper's self-supervised setting for
box-only data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from fairmot_ros.evaluation.mot_io import FRAME, HEIGHT, LEFT, TOP, TRACK_ID, WIDTH
from fairmot_ros.sequences import CACHE_DIR, MotSequence
from fairmot_ros.training.augment import AugmentConfig, augment_sample
from fairmot_ros.training.composite import CompositeConfig, SceneModel, composite
from fairmot_ros.training.targets import MAX_OBJECTS, build_targets

FRAME_CACHE_DIR = CACHE_DIR / "frames"


def cached_frames(sequence: MotSequence, cache_dir: Path = FRAME_CACHE_DIR) -> np.ndarray:
    """All frames of the sequence's range as a read-only (N, H, W, 3) uint8 memmap."""
    key = f"{sequence.source.resolve()}:{sequence.first}-{sequence.last}"
    if sequence.is_video:
        key += f":{sequence.source.stat().st_size}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    path = cache_dir / f"{sequence.name or 'seq'}_{sequence.first}-{sequence.last}_{digest}.npy"
    if path.is_file():
        return np.load(path, mmap_mode="r")
    cache_dir.mkdir(parents=True, exist_ok=True)
    frames = [image for _, image in sequence.frames()]
    if not frames:
        raise ValueError(f"sequence {sequence.name or sequence.source} has no frames in range")
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise ValueError(f"sequence {sequence.source} mixes frame sizes {sorted(shapes)}")
    partial = path.with_suffix(".partial.npy")
    array = np.lib.format.open_memmap(partial, "w+", np.uint8, (len(frames), *frames[0].shape))
    for i, image in enumerate(frames):
        array[i] = image
    array.flush()
    del array
    partial.rename(path)
    return np.load(path, mmap_mode="r")


@dataclass
class SequenceLabels:
    """One sequence's frames and, per frame, its boxes (x1, y1, x2, y2) and contiguous ids."""

    sequence: MotSequence
    frames: np.ndarray
    boxes: list[np.ndarray] = field(default_factory=list)
    ids: list[np.ndarray] = field(default_factory=list)


def label_sequences(
    sequences: list[MotSequence], single_image_mode: bool = False
) -> tuple[list[SequenceLabels], int]:
    """Load frames and ground truth; returns the labelled sequences and the identity count.

    Identities become 0..n-1 across all sequences in order, so the classifier has no unused
    rows; unknown ids (< 0) stay -1.
    """
    labelled: list[SequenceLabels] = []
    next_id = 0
    for sequence in sequences:
        frames = cached_frames(sequence)
        rows = sequence.ground_truth(min_conf=0.5 if not single_image_mode else None)
        first = sequence.first
        by_frame = [rows[rows[:, FRAME] == first + i] for i in range(len(frames))]
        mapping: dict[int, int] = {}
        if not single_image_mode:
            known = sorted({int(v) for v in rows[:, TRACK_ID] if v >= 0})
            mapping = {raw: next_id + k for k, raw in enumerate(known)}
            next_id += len(known)
        entry = SequenceLabels(sequence, frames)
        for frame_rows in by_frame:
            xywh = frame_rows[:, [LEFT, TOP, WIDTH, HEIGHT]]
            boxes = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
            if single_image_mode:
                ids = np.arange(next_id, next_id + len(boxes), dtype=np.int64)
                next_id += len(boxes)
            else:
                ids = np.array([mapping.get(int(v), -1) for v in frame_rows[:, TRACK_ID]],
                               dtype=np.int64)
            entry.boxes.append(boxes)
            entry.ids.append(ids)
        labelled.append(entry)
    return labelled, next_id


def random_crop(
    image: np.ndarray,
    boxes: np.ndarray,
    ids: np.ndarray,
    crop_hw: tuple[int, int],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random window of the augmented image, for cheaper steps on small machines.

    Objects whose centre leaves the window are dropped rather than pinned to its edge: the
    network never sees a window edge at inference, so it should not learn peaks there.
    Boxes keep their full (amodal) extent, as everywhere else.
    """
    height, width = image.shape[:2]
    crop_h, crop_w = crop_hw
    top = int(rng.integers(0, height - crop_h + 1))
    left = int(rng.integers(0, width - crop_w + 1))
    window = np.ascontiguousarray(image[top : top + crop_h, left : left + crop_w])
    moved = boxes - np.array([left, top, left, top], dtype=np.float64)
    cx, cy = (moved[:, 0] + moved[:, 2]) / 2, (moved[:, 1] + moved[:, 3]) / 2
    keep = (cx >= 0) & (cx < crop_w) & (cy >= 0) & (cy < crop_h)
    return window, moved[keep].reshape(-1, 4), ids[keep]


class MotTrainingDataset(Dataset):
    """Augmented, letterboxed samples with FairMOT targets for any number of sequences.

    Randomness is drawn from ``(seed, epoch, index)`` so a resumed run sees the same samples
    and worker processes never share a generator state. ``scenes`` (one per sequence, None for
    sequences without one) turns on synthetic composites before the augmentation chain.
    ``identity_count`` is the number of real identities (needed with colour identities, where
    the classifier has ``identity_count * K`` classes).
    """

    def __init__(
        self,
        labelled: list[SequenceLabels],
        input_hw: tuple[int, int],
        augment: AugmentConfig | None = None,
        seed: int = 317,
        down_ratio: int = 4,
        crop_hw: tuple[int, int] | None = None,
        scenes: list[SceneModel | None] | None = None,
        composite_config: CompositeConfig | None = None,
        identity_count: int = 0,
    ) -> None:
        self.labelled = labelled
        self.input_hw = input_hw
        self.augment = augment or AugmentConfig()
        self.seed = seed
        self.epoch = 0
        self.down_ratio = down_ratio
        if crop_hw is not None and (crop_hw[0] > input_hw[0] or crop_hw[1] > input_hw[1]):
            raise ValueError(f"crop {crop_hw} is larger than the input {input_hw}")
        self.crop_hw = crop_hw
        if scenes is not None and len(scenes) != len(labelled):
            raise ValueError(f"{len(scenes)} scene models for {len(labelled)} sequences")
        self.scenes = scenes
        self.composite_config = composite_config or CompositeConfig()
        variants = max(self.augment.color_identities, self.composite_config.color_identities)
        if variants >= 2 and identity_count <= 0:
            raise ValueError("colour identities need identity_count, the number of real "
                             "identities (the classifier has identity_count x K classes)")
        self.identity_count = identity_count
        self.index = [(s, f) for s, entry in enumerate(labelled) for f in range(len(entry.frames))]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        seq_index, frame_index = self.index[item]
        entry = self.labelled[seq_index]
        rng = np.random.default_rng((self.seed, self.epoch, item))
        image = np.asarray(entry.frames[frame_index])
        boxes, ids = entry.boxes[frame_index], entry.ids[frame_index]
        scene = self.scenes[seq_index] if self.scenes is not None else None
        if scene is not None:
            image, boxes, ids = composite(image, boxes, ids, scene, rng, self.composite_config,
                                          self.identity_count)
        image, boxes, ids = augment_sample(
            image, boxes, ids, self.input_hw, rng, self.augment, self.identity_count
        )
        if self.crop_hw is not None:
            image, boxes, ids = random_crop(image, boxes, ids, self.crop_hw, rng)
        height, width = image.shape[:2]
        targets = build_targets(
            boxes, ids, (width // self.down_ratio, height // self.down_ratio), self.down_ratio,
            MAX_OBJECTS,
        )
        tensor = np.ascontiguousarray(image[:, :, ::-1].transpose(2, 0, 1), dtype=np.float32)
        sample = {"input": torch.from_numpy(tensor / 255.0)}
        sample.update({k: torch.from_numpy(v) for k, v in targets.as_dict().items()})
        return sample
