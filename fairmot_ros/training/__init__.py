"""FairMOT training (spec section 6): targets, losses, JDE-style augmentation, data and CLI.

``targets`` turns boxes into the CenterNet heatmap / ltrb / offset / identity tensors,
``losses`` implements the focal, L1 and identity losses with their weighting, ``augment`` the
JDE photometric and geometric augmentation, ``dataset`` reads MOT-format sequences into
training samples, and ``cli`` is the resumable ``fairmot-train`` loop.
"""
