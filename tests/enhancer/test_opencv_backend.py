"""The OpenCV backend's filters: its blur is OpenCV's Gaussian, its output a pure function."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avatar_enhancer.engine import EnhanceSettings, OpenCvEnhancer, gaussian_blur


def _photo_like(seed: int = 0, size: int = 120) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = (np.sin(xx / 5.0) + np.cos(yy / 7.0)) * 50 + 120
    image = np.stack([base, base * 0.8, base * 0.6], -1) + rng.normal(0, 10, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("sigma", [1.2, 2.4])
def test_the_blur_is_opencvs_gaussian_within_a_level(sigma):
    image = _photo_like()
    ours = gaussian_blur(image, sigma).astype(int)
    reference = cv2.GaussianBlur(image, (0, 0), sigmaX=sigma).astype(int)
    assert ours.shape == reference.shape
    assert np.abs(ours - reference).max() <= 1
    assert np.mean(ours != reference) < 0.1


def test_the_blur_keeps_noise_within_two_levels_and_blurs_it():
    noise = np.random.default_rng(1).integers(0, 256, (64, 80, 3), dtype=np.uint8)
    ours = gaussian_blur(noise, 2.4)
    assert np.abs(ours.astype(int) - cv2.GaussianBlur(noise, (0, 0), 2.4)).max() <= 2
    assert ours.std() < 0.5 * noise.std()


def test_enhancing_the_same_frame_twice_gives_the_same_pixels():
    image = _photo_like(2)
    backend = OpenCvEnhancer()
    for settings in (EnhanceSettings(), EnhanceSettings(upscale=2, fidelity=0.3)):
        first = backend.enhance(image, settings)
        assert np.array_equal(first, backend.enhance(image.copy(), settings))
        assert first.shape[0] == image.shape[0] * settings.upscale
