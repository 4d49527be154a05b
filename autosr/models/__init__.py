"""Models shipped with AutoSR: ``builtin/NAME.zip`` (a model zip, :mod:`autosr.inference.model_package`) and
``builtin/NAME.md`` (its model card). Use one with ``autosr_predict -m builtin:NAME``; list them with
``autosr_list_models``. This package holds data only.
"""
