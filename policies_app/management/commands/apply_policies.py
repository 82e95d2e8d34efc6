"""`manage.py apply_policies FILE... [--dry-run] [--prune] [--propose --as USER]`"""

import getpass
import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accessportal.kernel.errors import DomainError
from policies_app.loader import PolicyFileError, plan_from_files, plan_provision_entries
from policies_app.models import ReviewRule
from policies_app.services.apply import policies_apply, prune_problems
from policies_app.services.proposals import (
    direct_policy_change_check,
    policy_change_preview,
    policy_proposal_create,
    proposal_lines,
)
from policies_app.services.provision_targets import provision_targets_probe
from policies_app.signals import review_rules_preview


class Command(BaseCommand):
    help = (
        "Load roles, users, resources and rules from YAML policy files. An invalid file changes "
        "nothing and every problem is printed with its document and field."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "files", nargs="+", help="YAML files (several documents each, split by ---)"
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="show what would change, change nothing"
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="delete roles and resources not in the files (users are kept)",
        )
        parser.add_argument(
            "--propose",
            action="store_true",
            help="store the change as a proposal another person approves (two-person rule)",
        )
        parser.add_argument(
            "--as",
            dest="proposer",
            metavar="USER",
            help="with --propose: the user name proposing the change",
        )

    def handle(self, *args, files, dry_run, prune, propose, proposer, **options):
        if propose and dry_run:
            raise CommandError("--propose and --dry-run: choose one")
        if propose and not proposer:
            raise CommandError("--propose needs --as USER: the person proposing the change")
        if not propose and not dry_run:
            try:
                direct_policy_change_check(surface="use apply_policies --propose --as USER")
            except DomainError as err:
                raise CommandError(err.message) from None
        try:
            plan = plan_from_files(files)
            if prune and (problems := prune_problems(plan)):
                raise PolicyFileError(problems)
        except PolicyFileError as err:
            for problem in err.problems:
                self.stderr.write(problem)
            raise CommandError(
                f"{len(err.problems)} problem(s) found; nothing was changed"
            ) from None
        if propose:
            self._propose(plan, prune, proposer)
            return
        if dry_run:
            # The field-level diff first: what a reviewer of the change reads.
            for line in policy_change_preview(plan=plan, prune=prune).lines():
                self.stdout.write(line)
        summary = policies_apply(plan=plan, prune=prune, dry_run=dry_run)
        for line in summary.lines():
            self.stdout.write(line)
        if dry_run:
            # Only a dry run reaches out to the targets: a real apply must not hang on one.
            for warning in provision_targets_probe(plan_provision_entries(plan)):
                self.stdout.write(warning)
            # What each new or changed review rule would have decided lately (README
            # "Review rules"); the request layer answers.
            for _receiver, lines in review_rules_preview.send(
                sender=ReviewRule, rules=plan.review_rules, schedules=plan.oncall_schedules
            ):
                for line in lines or []:
                    self.stdout.write(line)
            self.stdout.write("dry run: nothing was changed")

    def _propose(self, plan, prune, username):
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: username}, is_active=True).first()
        if user is None:
            raise CommandError(f"--as {username}: no active user of that name")
        try:
            proposal = policy_proposal_create(
                plan=plan, proposer=user, prune=prune, source="cli", origin=_os_identity()
            )
        except PolicyFileError as err:
            for problem in err.problems:
                self.stderr.write(problem)
            raise CommandError("nothing was proposed") from None
        except DomainError as err:
            raise CommandError(err.message) from None
        self.stdout.write(
            f"proposal {proposal.pk} (pending approval by another person; proposer {username} "
            f"named on the command line, run by {proposal.origin})"
        )
        for line in proposal_lines(proposal):
            self.stdout.write(line)


def _os_identity() -> str:
    """Who ran the command, as the operating system says: `--as` is not verified (manage.py
    has no sign-in), so the record keeps the shell user (and who used sudo) beside it."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry, no login variables
        who = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    sudo = os.environ.get("SUDO_USER", "")
    return f"os user {who}" + (f", sudo by {sudo}" if sudo and sudo != who else "")
