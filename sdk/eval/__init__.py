"""MOTChallenge evaluation through TrackEval's metric implementations."""
from mottrack_sdk.eval.mot_eval import EvalResult, evaluate_mot

__all__ = ["EvalResult", "evaluate_mot"]
