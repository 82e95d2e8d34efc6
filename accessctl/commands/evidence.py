"""`accessctl evidence verify BUNDLE`: check an evidence bundle offline, with no server."""

from __future__ import annotations

import json
from pathlib import Path

from accessctl.commands.context import HELP_FORMAT, Context
from accessctl.errors import EXIT_OK, EXIT_SERVER, CliError

VERIFY_HELP = """\
Check an evidence bundle (from GET /api/v1/requests/ID/evidence/ or `manage.py
evidence_bundle`) without any server: the anchor's signature with a key YOU supply, every
audit event's hash, the chain from the request's first event to the anchor (other people's
events appear only as commitments), and that the request (requester, state, resolver,
reasons by hash, access window), its reviews and its grants (one per requested item, in the
access window) say what its audit events say. Policy, notifications, provisioning and
activity times are not proven. Exit 0 "verified: N events, anchored at seq S (time)"; exit 1
naming the first problem.

A trusted key is required: Ed25519 anchors (recommended) are checked with the public key
your operators publish (--public-key; the key a bundle carries is never trusted: without
--public-key the command exits 1 naming that key's id). This needs the `cryptography`
package: pip install 'accessctl[evidence]'. HS256 anchors need the server's shared key
(--key-file): weaker, since whoever holds that key could also have signed.

examples:
  accessctl evidence verify bundle.json --public-key anchor-public.pem
  accessctl evidence verify bundle.json --key-file anchor.key"""


class BundleRefused(CliError):
    exit_code = EXIT_SERVER


def register(sub, common) -> None:
    group = sub.add_parser(
        "evidence",
        help="check an evidence bundle offline",
        description="Evidence bundles.\n\n" + VERIFY_HELP,
        formatter_class=HELP_FORMAT,
    )
    esub = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = esub.add_parser(
        "verify",
        parents=[common],
        help="verify a bundle offline (exit 0 verified, 1 not)",
        description=VERIFY_HELP,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument("bundle", metavar="BUNDLE", help="the bundle's JSON file (- for stdin)")
    p.add_argument("--public-key", metavar="FILE", help="the anchors' Ed25519 public key (PEM)")
    p.add_argument("--key-file", metavar="FILE", help="the HS256 anchor key (AUDIT_ANCHOR_KEY)")
    p.set_defaults(func=verify, parser=p)


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise BundleRefused(f"cannot read the {what} {path}: {err.strerror or err}") from None


def verify(ctx: Context, args) -> int:
    from accessctl.evidence import BundleInvalid, MissingDependency, verify_bundle

    raw = ctx.stdin.read().encode() if args.bundle == "-" else _read(args.bundle, "bundle")
    try:
        bundle = json.loads(raw)
    except (ValueError, UnicodeError) as err:
        raise BundleRefused(f"the bundle is not JSON: {err}") from None
    public_key = _read(args.public_key, "public key") if args.public_key else None
    shared = _read(args.key_file, "key file").strip() if args.key_file else None
    try:
        result = verify_bundle(bundle, public_key=public_key, shared_key=shared)
    except MissingDependency as err:
        raise BundleRefused(str(err)) from None
    except BundleInvalid as err:
        if ctx.json:
            print(json.dumps({"verified": False, "problem": str(err)}), file=ctx.stdout)
            return EXIT_SERVER
        raise BundleRefused(f"NOT verified: {err}") from None
    if ctx.json:
        print(json.dumps({"verified": True, **vars(result)}, ensure_ascii=False), file=ctx.stdout)
        return EXIT_OK
    print(
        f"verified: {result.events} events, anchored at seq {result.anchor_seq} "
        f"({result.anchor_time})",
        file=ctx.stdout,
    )
    print(f"anchor: {result.alg}" + (f", key id {result.key_id}" if result.key_id else ""),
          file=ctx.stdout)  # fmt: skip
    for item in result.purged:
        print(f"purged: {item} (only its hash is kept)", file=ctx.stdout)
    for note in result.notes:
        print(f"note: {note}", file=ctx.stdout)
    return EXIT_OK
