"""Commands that install the product: deploy (and its CloudFormation template), local."""

from __future__ import annotations

import argparse

from .base import DRY_RUN_HELP, UI, command, config_args, load


def _deploy_args(p: argparse.ArgumentParser) -> None:
    config_args(p)
    p.add_argument("--dry-run", action="store_true", help=DRY_RUN_HELP)
    p.add_argument("--template-out", metavar="FILE", help="also write an equivalent CloudFormation template")
    p.add_argument("--remove", action="store_true", help="remove what deploy created (the bucket and data stay)")
    p.add_argument("--force", action="store_true", help="with --remove: even while tables are still protected")


@command("deploy", "install (or update) the product in an account", _deploy_args)
def cmd_deploy(args: argparse.Namespace, ui: UI) -> int:
    import os

    from ..install.deployer import Deployer
    from ..install.executor import DeployRunner
    from ..local.emulator import EMULATOR_MARK
    from ..provisioning.steps import PrintingExecutor

    config, clients = load(args)
    # On the embedded AWS the local runtime turns table changes into the CloudTrail events
    # itself: no trail is needed there (a trail check against it would only warn wrongly).
    deployer = Deployer(clients, config, trail_needed=not os.environ.get(EMULATOR_MARK))
    # A plan that cannot be applied raises (exit 1, or 2 for a bad config or arguments).
    plan = deployer.plan_remove(args.force) if args.remove else deployer.plan()
    for warning in plan.warnings:
        ui.line(f"warning: {warning}")
    run: DeployRunner = PrintingExecutor(ui) if args.dry_run else deployer.executor(ui)
    for step in plan.steps:
        run.apply(step)
    if not plan.steps:
        ui.line("nothing to change")
    if args.template_out and not args.remove:
        from ..install.template import write_template

        where = write_template(deployer, args.template_out, upload=not args.dry_run)
        ui.line(f"CloudFormation template written to {args.template_out} (code: {where})")
    verb = "would change" if args.dry_run else ("removed" if args.remove else "deployed")
    ui.line(f"{verb}: {len(plan.steps)} change(s) in {clients.region}")
    return 0


def _local_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=5000, help="port of the embedded moto server (default 5000)")
    p.add_argument("--config", help="also deploy this config into the emulator")
    p.add_argument("--speedup", type=float, default=1.0, help="run schedules N times faster (60: hourly -> 1 min)")
    p.add_argument("--endpoint-url", help="attach to an emulator already running there instead of starting one")


@command("local", "run the embedded AWS and the local runtime until interrupted", _local_args)
def cmd_local(args: argparse.Namespace, ui: UI) -> int:
    import os
    import time

    from ..core.errors import UserInputError
    from ..local import LocalRuntime
    from ..local.emulator import EmbeddedMoto

    region = os.environ.get("AWS_REGION", "us-east-1")
    try:
        moto = None if args.endpoint_url else EmbeddedMoto(args.port).start()
    except UserInputError as exc:  # the port is taken: say so and how to choose another
        raise UserInputError(f"{exc}: stop it, or choose another port with --port") from None
    if moto is None:
        # A moto server we did not start still runs its own Docker-based stream delivery,
        # which empties shards: the mappings may then miss records (docs/emulator.md).
        ui.line("warning: attached to an external emulator; start it with `dynamo-backup local` for full fidelity")
        env = {"AWS_ENDPOINT_URL": args.endpoint_url, "AWS_REGION": region, "AWS_DEFAULT_REGION": region}
        env.update({k: v for k, v in EmbeddedMoto.fake_credentials().items() if k not in os.environ})
    else:
        env = moto.environment(region)
    os.environ.update(env)
    ui.line(f"AWS emulator on {env['AWS_ENDPOINT_URL']}; in another shell:")
    for key, value in env.items():
        ui.line(f"  export {key}={value}")
    runtime: LocalRuntime | None = None
    try:
        if args.config:
            cmd_deploy(
                argparse.Namespace(
                    config=args.config, region=None, dry_run=False, template_out=None, remove=False, force=False
                ),
                ui,
            )
        runtime = LocalRuntime(speedup=args.speedup).start()
        ui.line("local runtime running (table events, schedules, stream mappings); Ctrl-C stops it")
        while True:
            time.sleep(3600)
    finally:
        if runtime:
            runtime.stop()
        if moto:
            moto.stop()
