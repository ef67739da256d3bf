"""The ``nacre export`` command: its arguments and what it runs (wired into :mod:`nacre.cli`)."""

from __future__ import annotations

import argparse
from pathlib import Path

FORMATS = ("onnx",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``nacre export``."""
    parser.add_argument("run_dir", type=Path,
                        help="a run folder (its newest checkpoint) or a folder saved with "
                             "agent.save()")
    parser.add_argument("--format", choices=FORMATS, default="onnx",
                        help="what to write (default: onnx)")
    parser.add_argument("--out", type=Path, default=None,
                        help="the folder to write into (default: RUN_DIR/export)")
    parser.add_argument("--torchscript", action="store_true",
                        help="also write TorchScript files (policy.pt, exploring.pt)")
    parser.add_argument("--mask", action="store_true",
                        help="discrete graphs take a mask [B, K] input of the available actions "
                             "(for environments that restrict actions per step)")


def run(args: argparse.Namespace) -> int:
    """Export as ``args`` say; print what was written. Errors are nacre errors (the caller
    reports them)."""
    # imported here: torch's exporter is only loaded for this command
    from nacre.export.onnx import export_onnx

    out = export_onnx(args.run_dir, args.out, torchscript=args.torchscript, mask=args.mask,
                      log=print)
    print(f"exported to {out}")
    return 0


__all__ = ["FORMATS", "add_arguments", "run"]
