"""Calibration: ADC ranges, threshold re-balancing, device-model fitting from measurements."""

from .adc import calibrate_adc_ranges
from .thresholds import rebalance_thresholds

__all__ = ["calibrate_adc_ranges", "rebalance_thresholds"]
