"""Evaluation of a tracker on MOT-format sequences: result files, metrics, the ``fairmot-eval`` CLI.

``mot_io`` reads and writes MOTChallenge text files, ``metrics`` scores results with TrackEval
(MOTA, IDF1, HOTA and friends) and ``cli`` runs an exported model through the ROS-free core
over a sequence; ``perturb`` degrades frames (noise, blur, JPEG, exposure, resolution, colour)
for ``fairmot-eval --perturb`` and the ``robustness`` sweep. None of these imports torch at
import time. Speed is measured by ``fairmot-bench`` (``fairmot_ros.bench``).
"""
