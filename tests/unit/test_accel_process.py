"""The acceleration layer's process-wide settings: applied only when asked, never at import."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest
import torch

from nacre.accel import process
from nacre.accel.mlp import linear, matmul, weight_grad_into


def test_importing_and_building_with_accelerate_off_changes_no_process_setting() -> None:
    code = (
        "import nacre, torch\n"
        "from nacre.accel import process\n"
        "cfg = nacre.load_preset('cartpole-dqn').with_overrides(['train.accelerate=off'])\n"
        "run = nacre.build(cfg)\n"
        "assert not process.SETTINGS.applied and process.onednn_linear() is None\n"
        "assert type(run.agent.engine).__name__ == 'LearnerEngine'\n"
        "nacre.fit(run.agent, run.env, cfg.train.__class__(steps=50, learning_starts=10,\n"
        "          accelerate='off'), progress=False)\n"
        "assert not process.SETTINGS.applied\n"
        "nacre.fit(run.agent, run.env, cfg.train.__class__(steps=100, learning_starts=10),\n"
        "          progress=False)\n"
        "assert process.SETTINGS.applied\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_allocator_tuning_applies_on_glibc() -> None:
    applied = process.tune_allocator()
    assert applied == (platform.libc_ver()[0] == "glibc" and sys.platform.startswith("linux"))


@pytest.mark.parametrize("onednn", [False, True])
@pytest.mark.parametrize(("rows", "inner", "width"), [(256, 400, 300), (8, 4, 16), (64, 17, 256)])
def test_matrix_products_equal_torch(onednn: bool, rows: int, inner: int, width: int,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # large fp32 products go through oneDNN when the settings enable it, small ones torch.mm
    monkeypatch.setattr(process.SETTINGS, "onednn",
                        process._probe_onednn() if onednn else None)
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(rows, inner, generator=g), torch.randn(width, inner, generator=g)
    b, grad = torch.randn(width, generator=g), torch.randn(rows, width, generator=g)
    torch.testing.assert_close(linear(x, w, b, relu=True), torch.relu(x @ w.t() + b),
                               rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(matmul(grad, w), grad @ w, rtol=1e-5, atol=1e-4)
    out = torch.empty(width, inner)
    weight_grad_into(out, grad, x)
    torch.testing.assert_close(out, grad.t() @ x, rtol=1e-5, atol=1e-4)
