from ninja import Router

from .chargeback import router as chargeback_router
from .latency import router as latency_router

router = Router(tags=["usage"])
router.add_router("", chargeback_router)
router.add_router("", latency_router)
