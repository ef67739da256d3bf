"""Training loops, evaluation, callbacks, checkpoints, loggers and run folders."""

from nacre.train.callbacks import Callback, LoopState, StopOnReward, Training
from nacre.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from nacre.train.evaluate import evaluate
from nacre.train.loop import TrainResult, fit
from nacre.train.run import evaluate_run, load_run, resume, train
from nacre.train.seeds import train_seeds

__all__ = [
    "Callback",
    "LoopState",
    "StopOnReward",
    "TrainResult",
    "Training",
    "evaluate",
    "evaluate_run",
    "fit",
    "latest_checkpoint",
    "load_checkpoint",
    "load_run",
    "resume",
    "save_checkpoint",
    "train",
    "train_seeds",
]
