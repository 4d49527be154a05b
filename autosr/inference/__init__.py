"""AutoSR inference: ``Predictor`` (``predictor.py``) and what it is built from.

``model_folder`` finds a trained model, ``inputs`` turns ``-i`` into cases, ``prep`` crops and
normalises a scan, ``tiling`` keeps large slices within a memory budget, ``writer`` de-normalises,
pastes and (streams to) disk, ``io_workers`` overlaps reading/writing with the network, ``run``
drives a prediction over files. See documentation/prediction.md.
"""
