"""What ``nacre serve``, ``nacre learn-from-log``, ``nacre promote`` and ``nacre rollback`` do
(their arguments are declared in :mod:`nacre.cli`, which must not import the serve extra)."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from nacre.errors import ConfigError


def run(args: argparse.Namespace) -> int:
    from nacre.serve import (
        DecisionLog,
        ModelRegistry,
        decide_promotion,
        learn_from_log,
        serve,
        sqlite_url,
    )

    if args.command == "serve":
        serve(args.source, host=args.host, port=args.port, token=_token(args.token_file),
              insecure_local=args.insecure_local, registry=args.registry,
              log_url=args.log_url, seed=args.seed, max_body_bytes=args.max_body_bytes,
              poll_s=args.poll, fast_path=args.fast_path)
        return 0
    registry = ModelRegistry(args.registry)
    if args.command == "rollback":
        version = registry.rollback(args.reason)
        print(f"production is version {version} again")
        return 0
    log = DecisionLog(args.log_url or sqlite_url(registry.path / "decisions.db"))
    try:
        if args.command == "promote":
            evidence = decide_promotion(registry, log, min_rows=args.min_rows,
                                        margin=args.margin, exploring=not args.greedy,
                                        seed=args.seed)
            print(json.dumps(evidence, indent=2))
            return 0
        while True:
            learned = learn_from_log(registry, log, updates=args.updates,
                                     batch_size=args.batch_size, min_events=args.min_events,
                                     seed=args.seed)
            print(f"version {learned} in shadow" if learned is not None else
                  f"fewer than {args.min_events} new rewarded decisions: nothing learned",
                  flush=True)
            if args.every <= 0:
                return 0
            time.sleep(args.every)
    finally:
        log.close()


def _token(path: str | None) -> str | None:
    """The API token from ``path`` or ``NACRE_SERVE_TOKEN``, never from the command line
    (where every user of the machine could read it in the process list)."""
    if path is not None:
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"--token-file {path}: no such file")
        return file.read_text().strip()
    return os.environ.get("NACRE_SERVE_TOKEN") or None


__all__ = ["run"]
