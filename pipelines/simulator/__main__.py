"""`python -m pipelines.simulator --port P --appointments N --seed S`: serve until Ctrl-C."""

from __future__ import annotations

import argparse

from .simulator import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.simulator",
        description="Serve simulated Pexip Engage and Valomnia appointment APIs.",
    )
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--appointments", type=int, default=5000, help="per source")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ties-per-second", type=float, default=5)
    parser.add_argument("--max-limit", type=int, default=1000, help="largest page served")
    parser.add_argument(
        "--over-limit",
        choices=("clamp", "reject"),
        default="clamp",
        help="a Pexip limit above --max-limit: served at the maximum, or refused with 400",
    )
    parser.add_argument("--session-expiry", choices=("redirect", "401"), default="redirect")
    parser.add_argument("--webhook-url", help="deliver every Pexip change here as a webhook")
    parser.add_argument("--webhook-secret", help="sign deliveries (HMAC-SHA256 in X-Signature)")
    args = parser.parse_args(argv)
    serve(
        args.port,
        args.appointments,
        args.seed,
        host=args.host,
        ties_per_second=args.ties_per_second,
        max_limit=args.max_limit,
        over_limit=args.over_limit,
        session_expiry=args.session_expiry,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
    )


if __name__ == "__main__":
    main()
