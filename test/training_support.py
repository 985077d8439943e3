"""Helpers shared by the training and evaluation tests."""

from __future__ import annotations

import cv2
import numpy as np


def make_mot_folder(root, frames=5, size=(96, 128)):
    """A MOTChallenge-style sequence whose frame i has its index painted in pixel (0, 0)."""
    (root / "img1").mkdir(parents=True)
    (root / "gt").mkdir()
    lines = []
    for i in range(1, frames + 1):
        image = np.full((*size, 3), 90, np.uint8)
        image[0, 0] = i
        x = 10 + 8 * i
        image[20:60, x : x + 16] = 230
        cv2.imwrite(str(root / "img1" / f"{i:06d}.png"), image)
        lines.append(f"{i},4,{x},20,16,40,1,1,1")
        lines.append(f"{i},9,80,30,12,30,{0 if i == 2 else 1},1,1")
    (root / "gt" / "gt.txt").write_text("\n".join(lines) + "\n")
    (root / "seqinfo.ini").write_text(
        f"[Sequence]\nname=TOY\nimDir=img1\nframeRate=12\nseqLength={frames}\n"
        f"imWidth={size[1]}\nimHeight={size[0]}\nimExt=.png\n"
    )
    return root
