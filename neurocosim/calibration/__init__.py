"""Calibration: ADC ranges, threshold re-balancing, device-model fitting from measurements,
and the split of calibration samples from scored ones (:mod:`.split`)."""

from .adc import calibrate_adc_ranges
from .fit import COLUMNS, DeviceFit, Measurements, fit_device, read_measurements
from .split import CalibrationSplit
from .thresholds import rebalance_thresholds

__all__ = ["calibrate_adc_ranges", "rebalance_thresholds", "fit_device", "read_measurements",
           "DeviceFit", "Measurements", "COLUMNS", "CalibrationSplit"]
