"""`manage.py apply_policies FILE... [--dry-run] [--prune]`"""

from django.core.management.base import BaseCommand, CommandError

from policies_app.loader import PolicyFileError, plan_from_files, plan_provision_entries
from policies_app.models import ReviewRule
from policies_app.services.apply import policies_apply, prune_problems
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

    def handle(self, *args, files, dry_run, prune, **options):
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
