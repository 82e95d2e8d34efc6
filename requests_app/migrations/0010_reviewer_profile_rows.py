"""Reviewer rows per profile instead of per user (issue 14).

Existing PENDING requests get guardian group rows for every eligible reviewer profile;
per-user reviewer rows go, except the requester's and past reviewers' view rows (and the
view rows of resolved requests, which keep showing them to whoever could see them). Uses
historical models and the pure policy engine, so it stays valid as the models evolve.
"""

from collections import defaultdict

from django.conf import settings
from django.db import migrations
from django.db.models import Exists, F, OuterRef

from policies_app.engine import PolicySet
from policies_app.services.profiles import profile_group_name, profile_key


def _profiles(apps, policies):
    Role = apps.get_model("policies_app", "Role")
    UserTraits = apps.get_model("policies_app", "UserTraits")
    ReviewerProfile = apps.get_model("policies_app", "ReviewerProfile")
    Group = apps.get_model("auth", "Group")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    roles = defaultdict(set)
    for uid, name in Role.members.through.objects.filter(user__is_active=True).values_list(
        "user_id", "role__name"
    ):
        roles[uid].add(name)
    traits = dict(UserTraits.objects.values_list("user_id", "traits"))
    members = []
    for uid, names in roles.items():
        names, user_traits = sorted(names), traits.get(uid) or {}
        if not policies.subject(names, user_traits).reviews_anything:
            continue
        key = profile_key(names, user_traits)
        profile = ReviewerProfile.objects.filter(key=key).first()
        if profile is None:
            group = Group.objects.create(name=profile_group_name(names, key))
            profile = ReviewerProfile.objects.create(
                group=group, key=key, roles=names, traits=user_traits
            )
        members.append(User.groups.through(user_id=uid, group_id=profile.group_id))
    User.groups.through.objects.bulk_create(members, ignore_conflicts=True)
    return list(ReviewerProfile.objects.all())


def forwards(apps, schema_editor):
    Role = apps.get_model("policies_app", "Role")
    AccessRequest = apps.get_model("requests_app", "AccessRequest")
    UserPerm = apps.get_model("requests_app", "AccessRequestUserObjectPermission")
    GroupPerm = apps.get_model("requests_app", "AccessRequestGroupObjectPermission")
    Permission = apps.get_model("auth", "Permission")
    Review = apps.get_model("requests_app", "Review")
    policies = PolicySet.from_roles(Role.objects.values_list("name", "spec"))
    profiles = _profiles(apps, policies)
    perms = {
        p.codename: p
        for p in Permission.objects.filter(
            content_type__app_label="requests_app",
            codename__in=["view_accessrequest", "review_accessrequest"],
        )
    }
    if len(perms) < 2:
        return  # a new database: no requests yet, permissions come after migrating
    pending = AccessRequest.objects.filter(state="PENDING")
    rows = []
    for request in pending.iterator():
        ctx = {
            "roles": list(request.roles),
            "reason": request.reason,
            "annotations": dict(request.annotations or {}),
        }
        review_roles = (request.policy or {}).get("review_roles", {})
        for profile in profiles:
            if policies.subject(profile.roles, profile.traits).may_review(review_roles, ctx):
                rows += [
                    GroupPerm(content_object=request, group_id=profile.group_id, permission=p)
                    for p in perms.values()
                ]
    GroupPerm.objects.bulk_create(rows, ignore_conflicts=True)
    UserPerm.objects.filter(permission=perms["review_accessrequest"]).delete()
    reviewed = Review.objects.filter(
        request_id=OuterRef("content_object_id"), reviewer_id=OuterRef("user_id")
    )
    UserPerm.objects.filter(content_object__state="PENDING").exclude(
        user_id=F("content_object__user_id")
    ).exclude(Exists(reviewed)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("requests_app", "0009_request_resolved_by_override"),
        ("policies_app", "0003_reviewer_profiles"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
