"""People in 3D without ROS: camera models, the ground plane, depth and per-track 3D filters.

The modules turn a tracked 2D box into a position in metres, either from a depth image
registered to the colour image (:mod:`~fairmot_ros.spatial.depth`) or from the camera's pose
above flat ground (:mod:`~fairmot_ros.spatial.ground`), and smooth each track's position with
a small constant-velocity filter (:mod:`~fairmot_ros.spatial.motion`).
:class:`~fairmot_ros.spatial.stage.SpatialStage` combines them per frame. Every input that
cannot give a position is refused with one of the reasons of
:mod:`~fairmot_ros.spatial.reasons`, so a caller counts it and goes on. Nothing here imports
ROS: the node's adapters turn messages into these types.
"""
