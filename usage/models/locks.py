from django.db import models


class IngestionLease(models.Model):
    """A named lease (``name`` unique): the portable lock used when no Redis is configured.

    The holder renews ``expires_at`` while it works; a holder that died stops renewing and the
    lease can be taken over once it expired.
    """

    name = models.CharField(max_length=128, unique=True)
    holder = models.CharField(max_length=128)
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} held by {self.holder} until {self.expires_at:%H:%M:%S}"
