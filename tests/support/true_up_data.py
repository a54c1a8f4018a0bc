"""A month with an invoice for the true-up and FOCUS tests (March 2026, aoai-sweden)."""

from decimal import Decimal

from tests.support.costs_data import ACCOUNT, cost_line, gateway_request
from usage.models import CostCenter, CostCenterAssignment, GatewayRequest
from usage.rollups.hourly import rollup_refresh_hours


def march_build(*, rnd_name: str = "Research", invoice: bool = True) -> None:
    """aoai-sweden: sub-a (RND) sent 4000 uncached prompt / 100 completion tokens over two
    deployments (computed 1.50 + 0.50), sub-b (FIN) 1000 uncached + 500 cached / 200 completion
    (0.50). Invoice: input 100.00, output 30.00, batch 4.00 and 20.00 of an account nobody used."""
    rnd = CostCenter.objects.create(code="RND", name=rnd_name)
    fin = CostCenter.objects.create(code="FIN", name="Finance")
    CostCenterAssignment.objects.create(kind="subscription", key="sub-a", cost_center=rnd)
    CostCenterAssignment.objects.create(kind="subscription", key="sub-b", cost_center=fin)
    gateway_request(subscription="sub-a", deployment="chat", prompt=3000, completion=100, cost="1.50")
    gateway_request(subscription="sub-a", deployment="chat2", prompt=1000, cost="0.50")
    gateway_request(
        subscription="sub-b", deployment="chat", prompt=1500, cached=500, completion=200, cost="0.50"
    )
    rollup_refresh_hours(hours={r.time for r in GatewayRequest.objects.all()})
    if not invoice:
        return
    cost_line(meter_name="gpt 4o 1120 Inp glbl Tokens", billed_cost=Decimal("100.00"))
    cost_line(meter_name="gpt 4o 1120 Outp glbl Tokens", billed_cost=Decimal("30.00"))
    cost_line(meter_name="gpt 4o 1120 Batch Inp glbl Tokens", billed_cost=Decimal("4.00"))
    cost_line(billed_cost=Decimal("20.00"), resource_id=ACCOUNT.replace("aoai-sweden", "aoai-france"))
