"""AutoSR: self-configuring arbitrary-scale super-resolution (MIASSR / MESR) for MRI and CT.

A scan travels: raw dataset (:mod:`autosr.dataset`, :mod:`autosr.imageio`) → fingerprint and
plans (:mod:`autosr.fingerprint`, :mod:`autosr.planners`) → preprocessed slices
(:mod:`autosr.preprocessing`) → training (:mod:`autosr.training`) → prediction
(:mod:`autosr.inference`) → evaluation (:mod:`autosr.evaluation`).
"""
__version__ = "0.1.0"
