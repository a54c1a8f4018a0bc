from ninja import Router

from .api_chargeback import router as chargeback_router

router = Router(tags=["usage"])
router.add_router("", chargeback_router)
