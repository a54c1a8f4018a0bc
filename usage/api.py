from ninja import Router

from .api_latency import router as latency_router

router = Router(tags=["usage"])
router.add_router("", latency_router)
