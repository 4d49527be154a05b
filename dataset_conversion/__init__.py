"""Converters from public dataset layouts and generic folders to the AutoSR dataset format.

Each converter is a typed function returning the dataset folder; all write through
:class:`~autosr.dataset_conversion.writer.DatasetWriter` (atomic, never touching the source).
See documentation/data.md.
"""
from autosr.dataset_conversion.acdc import convert_acdc
from autosr.dataset_conversion.brats import convert_brats
from autosr.dataset_conversion.covid_ct import convert_covid_ct
from autosr.dataset_conversion.generic import convert_generic
from autosr.dataset_conversion.multichannel import convert_multichannel
from autosr.dataset_conversion.oasis import convert_oasis
from autosr.dataset_conversion.writer import CaseSpec, DatasetWriter, write_dataset

#: layout name (``autosr_convert --layout``) → converter of a fixed public layout
PUBLIC_LAYOUTS = {"oasis": convert_oasis, "brats": convert_brats, "acdc": convert_acdc, "covid_ct": convert_covid_ct}
LAYOUTS = ("generic", "multichannel") + tuple(PUBLIC_LAYOUTS)

__all__ = ["convert_generic", "convert_multichannel", "convert_oasis", "convert_brats", "convert_acdc",
           "convert_covid_ct", "DatasetWriter", "CaseSpec", "write_dataset", "LAYOUTS", "PUBLIC_LAYOUTS"]
