"""The `train` command's arguments and its launch: in this process, or under torchrun.

Importing this module costs no torch: `nncompile build` stays light, and `--nproc` checks
the spec and the config before it starts any worker, so mistakes are reported once, located,
instead of once per process.
"""

from __future__ import annotations

import argparse
import os
import sys

TORCHRUN_FLAGS = ("nnodes", "node_rank", "master_addr", "master_port", "rdzv_endpoint", "rdzv_backend", "rdzv_id")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The train-specific flags (the spec, --set, --allow-path come from the CLI's spec command)."""
    p.add_argument("--config", required=True, metavar="FILE", help="the training config (docs/training.md)")
    p.add_argument("--resume", action="store_true", help="continue the run from its last.pt")
    p.add_argument("--exist-ok", action="store_true",
                   help="reuse the run folder if it exists (else a rerun goes to <name>-2, <name>-3, …); "
                        "only the files a run writes are replaced")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (summaries only)")
    p.add_argument("--nproc", type=int, default=1, metavar="N", help="processes on this machine (DDP via torchrun)")
    group = p.add_argument_group("multi-node (passed to torchrun)")
    group.add_argument("--nnodes", default="1", help="machines, or MIN:MAX")
    group.add_argument("--node-rank", type=int, help="this machine's rank")
    group.add_argument("--master-addr", help="the address of the rank-0 machine")
    group.add_argument("--master-port", type=int)
    group.add_argument("--rdzv-endpoint", help="host:port of the rendezvous")
    group.add_argument("--rdzv-backend", help="c10d (default) or etcd…")
    group.add_argument("--rdzv-id", help="a job id shared by every machine")


def split_sets(pairs: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """--set pairs -> (spec parameters, config overrides): a dotted name is a config path."""
    from .config import is_config_key

    spec = {k: v for k, v in pairs.items() if not is_config_key(k)}
    return spec, {k: v for k, v in pairs.items() if is_config_key(k)}


def _train_argv(args) -> list[str]:
    """The arguments that reproduce this run inside each torchrun worker."""
    argv = [args.spec, "--config", args.config]
    for pair in args.set or []:
        argv += ["--set", pair]
    for path in args.allow_path or []:
        argv += ["--allow-path", path]
    return argv + ["--resume"] * args.resume + ["--exist-ok"] * args.exist_ok + ["--no-progress"] * args.no_progress


def run(args, pairs: dict[str, str]) -> int:
    import shlex
    import subprocess  # (here, not above: `build` and `check` import this module for the flags)

    from ..compiler.expand import UsageError
    from . import config

    params, overrides = split_sets(pairs)
    command = "nncompile train " + shlex.join(_train_argv(args))
    distributed = args.nproc > 1 or args.nnodes != "1"
    if args.nproc < 1:
        raise UsageError("--nproc must be 1 or more")
    config.require("torch", "torch", "nncompile train")
    if not distributed:
        from .train import train

        train(args.spec, args.config, params=params, overrides=overrides, resume=args.resume, exist_ok=args.exist_ok,
              allow_paths=args.allow_path or (), command=command, progress=not args.no_progress)
        return 0
    from .. import compiler

    loaded = config.load(args.config, overrides)  # errors once, here, not in every worker
    config.process_batch(loaded, args.nproc * (int(args.nnodes) if args.nnodes.isdigit() else 1))
    compiler.build(args.spec, params, allow_paths=args.allow_path or ())
    torchrun = [sys.executable, "-m", __name__, "--nproc-per-node", str(args.nproc)]
    flags = {name: getattr(args, name) for name in TORCHRUN_FLAGS if getattr(args, name) is not None}
    if flags == {"nnodes": "1"}:
        torchrun.append("--standalone")  # one machine: a free port, no rendezvous to set up
    for name, value in flags.items():
        torchrun += [f"--{name.replace('_', '-')}", str(value)]
    # each worker runs `nncompile train` itself: the CLI, not the runtime, is the entry point
    return subprocess.call(torchrun + ["-m", "nncompile.cli", "train"] + _train_argv(args),
                           env=_worker_env(loaded.config.run.threads, args.nproc))


def _worker_env(threads: int | None, nproc: int) -> dict[str, str]:
    """OMP_NUM_THREADS set explicitly (torchrun otherwise sets 1 with a banner): the user's if set,
    else run.threads, else this machine's cores shared among its processes."""
    env = dict(os.environ)
    if "OMP_NUM_THREADS" not in env:
        env["OMP_NUM_THREADS"] = str(threads or max(1, (os.cpu_count() or 1) // nproc))
    return env


def torchrun(argv: list[str]) -> int:
    """torchrun, a failed worker its exit code rather than torch's traceback: the workers
    have reported what went wrong (process 0 for what they all share)."""
    import logging

    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main

    logging.getLogger("torch.distributed.elastic.multiprocessing.api").setLevel(logging.CRITICAL)
    try:
        main(argv)
    except ChildFailedError as e:
        rank, failure = e.get_first_failure()
        if failure.exitcode > 0:
            return failure.exitcode
        print(f"nncompile: error: training process {rank} died of {failure.signal_name()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(torchrun(sys.argv[1:]))
