"""The usage measures are named once (usage.measures): the models, chargeback and the API follow it."""

from dataclasses import fields

from usage.api.chargeback import MeasuresOut
from usage.chargeback.selectors.lines import Measures
from usage.measures import CHARGEBACK_MEASURES, TOKEN_MEASURES, USAGE_MEASURES
from usage.models import GatewayRequest, UsageDaily, UsageHourly
from usage.models.rollups import UsageRollup

_DIMENSIONS = ("apim_subscription_id", "product_id", "deployment", "model")


def test_both_usage_rollups_hold_the_measures_in_order():
    assert tuple(f.name for f in UsageRollup._meta.fields) == (*_DIMENSIONS, *USAGE_MEASURES)
    for model in (UsageHourly, UsageDaily):
        names = [f.name for f in model._meta.fields]
        assert [name for name in names if name in USAGE_MEASURES] == list(USAGE_MEASURES)


def test_chargeback_reports_the_measures_less_images_in_order():
    assert tuple(f.name for f in fields(Measures)) == CHARGEBACK_MEASURES
    assert tuple(MeasuresOut.model_fields) == (*CHARGEBACK_MEASURES, "currency")
    assert set(USAGE_MEASURES) - set(CHARGEBACK_MEASURES) == {"images"}


def test_a_request_carries_the_token_measures_and_a_cost():
    names = {f.name for f in GatewayRequest._meta.fields}
    assert set(TOKEN_MEASURES) | {"cost"} <= names
