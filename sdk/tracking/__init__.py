"""Tracking core: Kalman motion model, candidate matching, the association cascade, camera motion."""
from mottrack_sdk.tracking.cmc import CameraMotionEstimator, CmcOptions
from mottrack_sdk.tracking.core import AssociationCore, FrameTracks
from mottrack_sdk.tracking.options import CHI2_95_4DOF, TrackerOptions

__all__ = ["AssociationCore", "CameraMotionEstimator", "CmcOptions", "FrameTracks", "TrackerOptions", "CHI2_95_4DOF"]
