"""Caseworker accounts, from the command line:

    python -m caseworker.accounts create NAME --team gbv [--team ...] [--supervisor]
    python -m caseworker.accounts disable NAME
    python -m caseworker.accounts enable NAME

The password is asked for (or read from standard input with --password-stdin); it is
stored as an argon2 hash, never in clear.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from amparo.cases import TEAMS, CaseError
from amparo.handoff import case_store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m caseworker.accounts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="a new account")
    create.add_argument("username")
    create.add_argument("--team", action="append", default=[], choices=TEAMS)
    create.add_argument("--supervisor", action="store_true")
    create.add_argument("--name", help="shown to colleagues (default: the username)")
    create.add_argument("--password-stdin", action="store_true")
    for name in ("disable", "enable"):
        command = commands.add_parser(name, help=f"{name} an account")
        command.add_argument("username")
    args = parser.parse_args(argv)
    store = case_store()
    try:
        if args.command == "create":
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\n")
            else:
                password = getpass.getpass("Password (12 characters or more): ")
                if getpass.getpass("Again: ") != password:
                    print("The passwords differ; nothing was created.", file=sys.stderr)
                    return 1
            store.create_caseworker(
                username=args.username,
                password=password,
                role="supervisor" if args.supervisor else "caseworker",
                teams=args.team,
                display_name=args.name,
            )
            print(f"Created {args.username}.")
        else:
            store.set_disabled(args.username, args.command == "disable")
            print(f"{args.username}: {args.command}d.")
    except CaseError as problem:
        print(problem, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
