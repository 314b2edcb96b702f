"""Runs the caseworker desk: ``python -m caseworker [--host H] [--port P]``."""

from __future__ import annotations

import argparse
import logging

from amparo.handoff import case_store
from amparo.sealing import ciphers
from amparo.settings import settings
from caseworker.app import create_app
from channels.outbound import push_senders


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m caseworker", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5080)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s  %(message)s"
    )
    config = settings()
    try:
        ciphers()  # case messages are encrypted at rest: no desk without the keys
    except ValueError as problem:
        parser.exit(2, f"caseworker: {problem}\n")
    app = create_app(case_store(), config, push_senders(config))
    app.run(host=args.host, port=args.port, access_log=False, motd=False)


if __name__ == "__main__":
    main()
