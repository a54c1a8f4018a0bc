from django.urls import path

from . import views

app_name = "quotas"

urlpatterns = [
    path("quotas/", views.overview, name="overview"),
    path("quotas/tiers/<int:tier_id>/policy.xml", views.tier_policy, name="tier_policy"),
]
