"""Training loops, evaluation, checkpoints, loggers and run folders."""

from nacre.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from nacre.train.loop import LoopState, TrainResult, evaluate, fit
from nacre.train.run import evaluate_run, load_run, resume, train

__all__ = [
    "LoopState",
    "TrainResult",
    "evaluate",
    "evaluate_run",
    "fit",
    "latest_checkpoint",
    "load_checkpoint",
    "load_run",
    "resume",
    "save_checkpoint",
    "train",
]
