"""SSIM speed: cloak-audit's separable matrix form against the grouped 11×11 convolution.

    python bench/bench_ssim.py

Two workloads: the noise cloaker's bisection (one 250×250 LFW-sized photo, float64, forward
only, ~30 calls a photo) and the Fawkes loop (16 chips of 150×150, float32, forward and
backward, once a step). Prints seconds per call, the ratio, and the largest difference.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from audit.perceptual import ssim


def ssim_by_convolution(a: torch.Tensor, b: torch.Tensor, max_val: float = 255.0) -> torch.Tensor:
    """The textbook form: one grouped 11×11 Gaussian convolution per local statistic."""
    x = torch.arange(11, dtype=a.dtype) - 5
    g = torch.exp(-(x**2) / (2 * 1.5**2))
    g = g / g.sum()
    channels = a.shape[1]
    kernel = (g[:, None] * g[None, :]).expand(channels, 1, 11, 11)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a**2, blur(b * b) - mu_b**2, blur(a * b) - mu_a * mu_b
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    return ((2 * mu_a * mu_b + c1) / (mu_a**2 + mu_b**2 + c1) * (2 * cov + c2) / (var_a + var_b + c2)).mean(dim=(1, 2, 3))


def seconds_per_call(function, a: torch.Tensor, b: torch.Tensor, backward: bool, repeats: int = 10) -> float:
    function(a, b)  # warm-up
    began = time.perf_counter()
    for _ in range(repeats):
        value = function(a, b).sum()
        if backward:
            value.backward()
    return (time.perf_counter() - began) / repeats


def main() -> None:
    torch.manual_seed(0)
    workloads = {
        "noise bisection, 1×3×250×250 float64, forward": (torch.float64, (1, 3, 250, 250), False),
        "fawkes step, 16×3×150×150 float32, forward+backward": (torch.float32, (16, 3, 150, 150), True),
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name, (dtype, shape, backward) in workloads.items():
        a = torch.rand(shape, dtype=dtype) * 255
        b = (a + torch.randn_like(a) * 3).clamp(0, 255).requires_grad_(backward)
        ours = seconds_per_call(ssim, a, b, backward)
        reference = seconds_per_call(ssim_by_convolution, a, b, backward)
        difference = (ssim(a, b) - ssim_by_convolution(a, b)).abs().max().item()
        print(f"{name}: matrix {1000 * ours:.1f} ms, convolution {1000 * reference:.1f} ms, "
              f"speed-up {reference / ours:.1f}×, max |difference| {difference:.1e}")


if __name__ == "__main__":
    main()
