"""Calibration: ADC ranges from calibration data (more: device fitting, threshold balancing)."""

from .adc import calibrate_adc_ranges

__all__ = ["calibrate_adc_ranges"]
