"""The ``nacre`` command line: ``train``, ``eval``, ``collect``, ``ope``, ``serve``,
``learn-from-log``, ``promote``, ``rollback``, ``export``, ``check-env``, ``presets``,
``components``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from nacre.errors import NacreError
from nacre.export.cli import add_arguments as export_arguments
from nacre.export.cli import run as export_command


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nacre", description="Train and evaluate nacre agents.")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train from a preset or YAML config, or resume a run")
    t.add_argument("config", nargs="?", help="preset name (see `nacre presets`) or CONFIG.yaml")
    t.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    t.add_argument("--steps", type=int, help="total environment steps of the run")
    t.add_argument("--seed", type=int)
    t.add_argument("--seeds", metavar="SEEDS",
                   help="several seeds in parallel processes, e.g. 0-4 or 1,3,7; writes each "
                   "run under OUT/seed_<s>/ and OUT/aggregate.json (IQM, 95%% CI) + a figure")
    t.add_argument("--num-envs", type=int)
    t.add_argument("--out", help="run folder (default runs/<name>-s<seed>-<time>)")
    t.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="override config fields, e.g. --set learner.lr=0.001 train.batch_size=32")
    t.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true",
                   help="no progress (default: a bar on a terminal, a line per 10%% of the run "
                   "in a log)")
    e = sub.add_parser("eval", help="evaluate a run's latest checkpoint greedily")
    e.add_argument("run_dir")
    e.add_argument("--episodes", type=int, default=10)
    e.add_argument("--seed", type=int, default=0)
    c = sub.add_parser("check-env", help="check that an environment can train in nacre "
                       "(Gymnasium's env checker, nacre's spaces, random steps)")
    c.add_argument("env", help="registered Gymnasium id, or module:Id (the module registers it)")
    c.add_argument("--steps", type=int, default=1000,
                   help="random steps through nacre's adapter (default 1000)")
    k = sub.add_parser("collect", help="record a run's or a preset's agent (with its "
                       "exploration) as a dataset for offline learning and evaluation")
    k.add_argument("source", help="run folder, preset name or CONFIG.yaml")
    k.add_argument("--steps", type=int, help="transitions to record")
    k.add_argument("--replay", action="store_true",
                   help="instead of recording, convert the run's logged transitions (its "
                   "replay, with propensities) into the dataset")
    k.add_argument("--out", required=True, help="dataset folder to write (must not exist)")
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--exploit", action="store_true",
                   help="record the greedy policy instead of the exploring one")
    k.add_argument("--quiet", action="store_true", help="no progress")
    o = sub.add_parser("ope", help="estimate a policy's value from logged data (off-policy "
                       "evaluation with bootstrap confidence intervals)")
    o.add_argument("data", help="dataset folder, or a run folder (its logged transitions)")
    o.add_argument("--policy", required=True, help="run folder or saved agent to evaluate")
    o.add_argument("--exploring", action="store_true",
                   help="evaluate the policy's exploration instead of its greedy policy")
    o.add_argument("--gamma", type=float, help="discount (default: the policy's learner's)")
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--out", help="JSON file to write (default: POLICY/ope.json)")
    _serve_parsers(sub)
    x = sub.add_parser("export", help="export the greedy and exploring policies to ONNX "
                       "(docs/export.md)")
    export_arguments(x)
    sub.add_parser("presets", help="list the shipped presets")
    sub.add_parser("components", help="list the registered components")
    return p


def _serve_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The decision service's commands (run by :mod:`nacre.serve.cli`)."""
    s = sub.add_parser("serve", help="serve a run's policy over HTTP with a durable decision "
                       "log (docs/serving.md)")
    s.add_argument("source", help="run folder, saved agent, or model registry folder")
    s.add_argument("--registry", help="model registry folder (default SOURCE/registry; "
                   "created from SOURCE on first use)")
    s.add_argument("--log", dest="log_url", help="SQLAlchemy URL of the decision log "
                   "(default: SQLite REGISTRY/decisions.db)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--token-file", help="file holding the API token (or set NACRE_SERVE_TOKEN)")
    s.add_argument("--insecure-local", action="store_true",
                   help="serve without a token, on loopback only (development)")
    s.add_argument("--max-body-bytes", type=int, help="largest request body (default 4 MiB)")
    s.add_argument("--poll", type=float, default=1.0,
                   help="seconds between checks of the registry for a new version")
    s.add_argument("--no-fast-path", dest="fast_path", action="store_false",
                   help="let FastAPI answer /v1/decide too (same answers, more CPU per "
                   "request; see docs/serving.md)")
    s.add_argument("--seed", type=int, default=0)
    learn = sub.add_parser("learn-from-log", help="train a new model version on the logged "
                           "decisions and rewards, and put it in shadow")
    _registry_and_log(learn)
    learn.add_argument("--updates", type=int, default=1000,
                       help="gradient updates for replay learners (bandits: one pass)")
    learn.add_argument("--batch-size", type=int, default=64)
    learn.add_argument("--min-events", type=int, default=100,
                       help="learn only once this many new rewarded decisions are logged")
    learn.add_argument("--every", type=float, default=0.0,
                       help="repeat every this many seconds (0: once)")
    learn.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("promote", help="promote the candidate if its doubly robust estimate "
                       "beats production's by --margin on its shadow period, else reject it")
    _registry_and_log(p)
    p.add_argument("--margin", type=float, default=0.0)
    p.add_argument("--min-rows", type=int, default=1000)
    p.add_argument("--greedy", action="store_true",
                   help="compare the greedy policies instead of the served (exploring) ones")
    p.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("rollback", help="serve the version that was in production before the "
                       "last promotion")
    r.add_argument("registry")
    r.add_argument("--reason", default="")


def _registry_and_log(p: argparse.ArgumentParser) -> None:
    p.add_argument("registry", help="model registry folder")
    p.add_argument("--log", dest="log_url", help="SQLAlchemy URL of the decision log "
                   "(default: SQLite REGISTRY/decisions.db)")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except NacreError as exc:
        print(f"nacre: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nnacre: interrupted; continue from the last checkpoint with "
              "`nacre train --resume RUN_DIR`", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    import nacre

    if args.command == "presets":
        for name in nacre.preset_names():
            print(f"{name:24s} {nacre.load_preset(name).description}")
        return 0
    if args.command == "components":
        from nacre.config import entries

        for entry in entries():
            print(f"{entry.kind:12s} {entry.name:16s} {entry.summary}")
        return 0
    if args.command == "collect":
        from nacre.train.collect import collect, describe, from_run

        if args.replay == (args.steps is not None):
            print("nacre: error: collect takes --steps N (record) or --replay (convert)",
                  file=sys.stderr)
            return 2
        if args.replay:
            data = from_run(args.source, seed=args.seed)
            data.save(args.out)
        else:
            data = collect(args.source, args.steps, args.out, seed=args.seed,
                           exploit=args.exploit, progress=False if args.quiet else None)
        print(json.dumps(describe(data) | {"out": args.out}, indent=2))
        return 0
    if args.command == "ope":
        from pathlib import Path

        from nacre.train.offpolicy import evaluate_offline, table, write

        estimates = evaluate_offline(args.data, args.policy, exploring=args.exploring,
                                     gamma=args.gamma, seed=args.seed)
        print(table(estimates))
        out = write(estimates, args.out or Path(args.policy) / "ope.json")
        print(f"written to {out}")
        return 0
    if args.command == "export":
        return export_command(args)
    if args.command in ("serve", "learn-from-log", "promote", "rollback"):
        from nacre.serve.cli import run

        return run(args)
    if args.command == "check-env":
        return _check_env(args.env, args.steps)
    if args.command == "eval":
        ev = nacre.evaluate_run(args.run_dir, episodes=args.episodes, seed=args.seed)
        print(f"eval return {ev['return_mean']:.2f} ± {ev['return_std']:.2f} over "
              f"{ev['episodes']} episodes (written to {args.run_dir}/eval.json)")
        return 0
    progress = False if args.quiet else None
    if args.resume:
        if (args.config or args.seed is not None or args.num_envs or args.set or args.out
                or args.seeds):
            print("nacre: error: --resume takes only --steps", file=sys.stderr)
            return 2
        result = nacre.resume(args.resume, steps=args.steps, progress=progress)
    elif args.seeds:
        return _train_seeds(args, progress)
    else:
        if not args.config:
            print("nacre: error: give a preset or CONFIG.yaml (or --resume RUN_DIR)",
                  file=sys.stderr)
            return 2
        result = nacre.train(args.config, steps=args.steps, seed=args.seed,
                             num_envs=args.num_envs, out=args.out, overrides=args.set,
                             progress=progress)
    print(json.dumps(result.summary | {"run_dir": str(result.run_dir)}, indent=2))
    return 0


def _check_env(env_id: str, steps: int) -> int:
    """Print each check with its advice and notes; 0 if every check passed, else 1."""
    from nacre.envs.env_checker import check_env

    checks = check_env(env_id, steps)
    for check in checks:
        print(f"{'pass' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
        if check.advice:
            print(f"      advice: {check.advice}")
        for note in check.notes:
            print(f"      note: {note}")
    failed = sum(not check.passed for check in checks)
    print(f"{env_id}: {failed} check{'s' * (failed != 1)} failed" if failed
          else f"{env_id}: every check passed")
    return 1 if failed else 0


def _train_seeds(args: argparse.Namespace, progress: bool | None) -> int:
    from nacre.train.run import default_run_dir, resolve_config
    from nacre.train.seeds import parse_seeds, train_seeds

    if args.seed is not None or not args.config:
        print("nacre: error: --seeds takes a preset or CONFIG.yaml and no --seed",
              file=sys.stderr)
        return 2
    seeds = parse_seeds(args.seeds)
    cfg = resolve_config(args.config, args.steps, None, args.num_envs, args.set)
    out = args.out or default_run_dir(args.config, cfg, f"seeds{args.seeds}")
    result = train_seeds(cfg, seeds, out, progress=progress)
    final = result.aggregate["final_eval_return"]
    print(json.dumps({"final_eval_return_iqm": final["iqm"],
                      "final_eval_return_iqm_ci95": final["iqm_ci95"],
                      "final_eval_return_mean": final["mean"], "seeds": seeds,
                      "failed": result.aggregate["failed"], "out": str(result.out)}, indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
