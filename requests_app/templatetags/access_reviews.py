"""The navigation's count of access review items waiting for the user."""

from django import template

from requests_app.selectors.access_reviews import campaign_items_to_decide

register = template.Library()


@register.simple_tag(takes_context=True)
def access_reviews_waiting(context) -> int:
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return 0
    return campaign_items_to_decide(user).count()
