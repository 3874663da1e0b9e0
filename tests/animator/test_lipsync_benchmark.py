"""The lip-sync benchmark's network has the size it claims, and the backend takes it."""

from __future__ import annotations

import torch

from benchmarks.lipsync import Wav2Lip96


def test_the_benchmark_network_has_wav2lips_shapes_and_size():
    torch.manual_seed(0)
    network = Wav2Lip96().eval()
    with torch.no_grad():
        output = network(torch.zeros(2, 1, 80, 16), torch.rand(2, 6, 96, 96))
    assert output.shape == (2, 3, 96, 96)
    assert float(output.min()) > 0 and float(output.max()) < 1
    parameters = sum(p.numel() for p in network.parameters())
    assert 36.0e6 < parameters < 36.6e6
