"""`reconciler`: main(argv) -> exit code. One error boundary: expected errors are one line, bugs a traceback.

Exit codes: 0 success (with `plan --detailed-exitcode`: no changes), 1 error, 2 changes present
(`plan --detailed-exitcode` only), 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import re
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from reconciler import __version__
from reconciler.cli import emulator_cmd, export_cmd, lock_cmd, output
from reconciler.config import redact
from reconciler.config.loader import DEFAULT_CONFIG
from reconciler.errors import ReconcilerError
from reconciler.hints import nearest

TARGET_HELP = (
    "only this resource and what it depends on (repeatable); a folder includes its subtree and items, "
    "e.g. folder.raw/cams, dataset.train"
)


class Parser(argparse.ArgumentParser):
    """Every parser of the CLI, each subcommand's too (argparse makes subparsers of the parent's class).

    - Usage errors exit 1: 2 means "there are changes" under --detailed-exitcode, and a typo in a CI job
      must never read as drift.
    - No abbreviations (`allow_abbrev=False`): `--ou` is an error, not `--out`; a prefix that works today
      would change meaning, or stop working, when an option is added.
    - An unknown argument is refused by the (sub)command that was given it, with its own usage, and a
      misspelt option or choice names the nearest one: `--detailed-exit-code`, Terraform's `-out`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        """As argparse's, but what is left over is an error here, where this parser's usage and options
        are known; argparse would hand it up to the top-level parser, whose usage says nothing of them."""
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(unrecognized(extras, self._option_strings()))
        return parsed, extras

    def error(self, message: str) -> NoReturn:
        explicit = _IGNORED_EXPLICIT.fullmatch(message)
        if explicit:  # `-verbose` read as `-v erbose`, `-help` as `-h elp`
            short = next((o for o in explicit[1].split("/") if not o.startswith("--")), "")
            token = short + explicit[2]
            if suggest_option(token, self._option_strings()) is not None:
                message = unrecognized([token], self._option_strings())
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """An invalid choice (a command, a `--format`) names the nearest valid one."""
        try:
            super()._check_value(action, value)
        except argparse.ArgumentError as exc:
            guess = None
            if isinstance(value, str) and action.choices is not None:
                guess = nearest(value, [str(choice) for choice in action.choices])
            if guess is None:
                raise
            raise argparse.ArgumentError(action, f"{exc.message} (did you mean {guess}?)") from None

    def _option_strings(self) -> list[str]:
        return [option for action in self._actions for option in action.option_strings]


_IGNORED_EXPLICIT = re.compile(r"argument (\S+): ignored explicit argument '([^']*)'")


def suggest_option(token: str, options: Sequence[str]) -> str | None:
    """The long option `token` was probably meant to be: `--detailed-exit-code` -> `--detailed-exitcode`,
    `--auto-aprove` -> `--auto-approve`, the only one it abbreviates (`--ou` -> `--out`), and Terraform's
    single-dash `-out` -> `--out`. Compared without their dashes, which would make any two look alike."""
    name = token.split("=", 1)[0]
    if not name.startswith("-") or len(name) < 3:
        return None
    bare = name.lstrip("-")
    longs = {option[2:]: option for option in options if option.startswith("--")}
    guess = nearest(bare, longs)
    if guess is None:
        extended = [option for option in longs if option.startswith(bare)]
        guess = extended[0] if len(extended) == 1 else None
    return None if guess is None else longs[guess]


def unrecognized(extras: Sequence[str], options: Sequence[str]) -> str:
    """argparse's "unrecognized arguments" message, with the options that were probably meant."""
    message = f"unrecognized arguments: {' '.join(extras)}"
    guesses = [(token, guess) for token in extras if (guess := suggest_option(token, options))]
    if not guesses:
        return message
    if len(extras) == 1:
        meant = guesses[0][1]
    else:
        meant = ", ".join(f"{guess} for {token}" for token, guess in guesses)
    dashes = any(not token.startswith("--") for token, _ in guesses)
    return f"{message} (did you mean {meant}?{' Long options take two dashes.' if dashes else ''})"


def _lazy(module: str) -> Callable[[argparse.Namespace], int]:
    """`module.run`, imported when the command runs: the CLI starts without loading every command (and
    with them the HTTP client, the emulator, the planner), so a bad config is refused fast and small."""

    def run(args: argparse.Namespace) -> int:
        code: int = importlib.import_module(module).run(args)
        return code

    return run


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="reconciler",
        description="GitOps for Encord: declare integrations, metadata schema, folders and datasets; "
        "plan; apply.",
    )
    parser.add_argument("--version", action="version", version=f"reconciler {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: HTTP requests)"
    )
    parser.add_argument("--no-color", action="store_true", help="no colour or other styling (as NO_COLOR=1)")
    sub: Any = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        help="the command; `reconciler COMMAND --help` shows its options",
    )
    verbose = Parser(add_help=False)  # global flags also after the command: `plan -v`
    verbose.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    verbose.add_argument("--no-color", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    p = sub.add_parser("validate", help="check the configuration (no network)", parents=[verbose])
    p.add_argument(
        "config",
        nargs="?",
        default=DEFAULT_CONFIG,
        metavar="CONFIG",
        help="configuration file or directory (default: %(default)s)",
    )
    p.set_defaults(func=_lazy("reconciler.cli.validate_cmd"))

    p = sub.add_parser("plan", help="show what apply would change in the live workspace", parents=[verbose])
    p.add_argument(
        "config",
        nargs="?",
        default=DEFAULT_CONFIG,
        metavar="CONFIG",
        help="configuration file or directory (default: %(default)s)",
    )
    p.add_argument("--out", metavar="FILE", help="also save the plan (JSON) for `apply FILE`")
    p.add_argument(
        "--format",
        choices=["text", "json", "markdown"],
        default="text",
        help="how to print the plan: text, json (a versioned document) or markdown (for a pull-request "
        "comment) (default: %(default)s)",
    )
    p.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 0 when there are no changes, 2 when there are, 1 on error",
    )
    p.add_argument(
        "--domain",
        metavar="URL",
        help="Encord API domain (overrides the config's backend), e.g. https://api.us.encord.com",
    )
    p.add_argument("--target", dest="targets", action="append", metavar="ADDRESS", help=TARGET_HELP)
    p.set_defaults(func=_lazy("reconciler.cli.plan_cmd"))

    p = sub.add_parser("apply", help="carry out the plan", parents=[verbose])
    p.add_argument(
        "target",  # args.target; not --target (args.targets), hence the metavar
        nargs="?",
        default=DEFAULT_CONFIG,
        metavar="CONFIG_OR_PLANFILE",
        help="configuration file or directory (default: %(default)s), or a plan file saved by "
        "`plan --out`, which is applied as it is, without a prompt",
    )
    p.add_argument("--auto-approve", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--allow-destroy",
        action="store_true",
        help="carry out destructive changes (deletes, unlinks, tombstones, re-typed keys, revoked IAM)",
    )
    p.add_argument(
        "--force", action="store_true", help="go ahead although the plan exceeds the safety thresholds"
    )
    p.add_argument("--domain", metavar="URL", help="Encord API domain (overrides the config's backend)")
    p.add_argument(
        "--report", metavar="FILE", help="write the registration's per-file results (JSON) to FILE"
    )
    p.add_argument(
        "--retry-failed",
        metavar="REPORT",
        help="register only the files that failed in REPORT (written by --report)",
    )
    p.add_argument("--target", dest="targets", action="append", metavar="ADDRESS", help=TARGET_HELP)
    p.set_defaults(func=_lazy("reconciler.cli.apply_cmd"))

    p = sub.add_parser("show", help="print a saved plan (no network)", parents=[verbose])
    p.add_argument("planfile", metavar="PLANFILE", help="a plan saved by `plan --out`")
    p.add_argument(
        "--format",
        choices=["text", "json", "markdown"],
        default="text",
        help="how to print it, as `plan --format` (default: %(default)s)",
    )
    p.set_defaults(func=_lazy("reconciler.cli.show_cmd"))

    lock_cmd.add_lock_parser(sub)
    export_cmd.add_export_parser(sub)

    p = sub.add_parser("schema", help="print the JSON Schema of the configuration format")
    p.set_defaults(func=_lazy("reconciler.cli.schema_cmd"))

    p = sub.add_parser("emulator", help="the Encord emulator")
    emu = p.add_subparsers(
        dest="emulator_command", required=True, metavar="SUBCOMMAND", help="the emulator command"
    )
    s = emu.add_parser(
        "serve", help="serve the emulator over HTTP", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    s.add_argument("--host", default="127.0.0.1", help="address to listen on")
    s.add_argument("--port", type=int, default=8765, help="port to listen on; 0: any free one (printed)")
    # required: no default to show
    s.add_argument(
        "--state",
        required=True,
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="SQLite state file (created when missing)",
    )
    s.add_argument(
        "--authorized-key", action="append", required=True, metavar="PUBKEY_FILE", default=argparse.SUPPRESS,
        help="OpenSSH Ed25519 public key file allowed to call the API (repeatable)",
    )  # fmt: skip
    s.add_argument("--request-log", metavar="FILE", help="append one JSON line per request (no secrets)")
    s.add_argument(
        "--long-poll-cap", type=float, default=60.0, metavar="S", help="longest a job poll is held"
    )
    s.add_argument(
        "--process-delay", type=float, default=0.0, metavar="S", help="keep upload jobs PENDING S seconds"
    )
    emulator_cmd.add_serve_options(s)
    s.set_defaults(func=emulator_cmd.run)
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("reconciler")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    if args.no_color:
        output.plain()
    redact.forget()  # values this run takes from the environment are never printed in an error
    try:  # a cancelled CI job sends SIGTERM: as Ctrl-C (and apply stops gracefully)
        previous = signal.signal(signal.SIGTERM, _terminated)
    except ValueError:  # not the main thread (an embedding program): leave signals alone
        previous = None
    try:
        code: int = args.func(args)
        return code
    except ReconcilerError as exc:
        output.error(redact.scrub(str(exc)))
        return 1
    except KeyboardInterrupt:
        output.error("interrupted")
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def entrypoint() -> None:
    sys.exit(main())
