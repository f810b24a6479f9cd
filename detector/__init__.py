"""The fallback classifier: what can be said about manipulation of media no registered original matches.

Pure: arrays in, an `Assessment` out; it imports nothing from `registry/` or `api/`. `assess` and `assess_video`
combine classical signals (`signals`), faces (`faces`) and out-of-distribution flags (`ood`) with a learned model
when one is given (`types.Scorer`).
"""

from detector.assess import assess, assess_video
from detector.types import CAVEAT, Assessment, Face, Scorer, Signal

__all__ = ["CAVEAT", "Assessment", "Face", "Scorer", "Signal", "assess", "assess_video"]
