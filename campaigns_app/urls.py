"""Portal pages of access reviews (namespace "access_reviews"), mounted at /reviews/access/."""

from django.urls import path

from campaigns_app import portal

app_name = "access_reviews"

urlpatterns = [
    path("", portal.my_reviews, name="mine"),
    path("<int:pk>/", portal.my_review_decide, name="decide"),
]
