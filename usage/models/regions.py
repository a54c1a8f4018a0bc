from django.db import models


class BackendHostRegion(models.Model):
    """The Azure region of one backend host (``aoai-contoso-swc.openai.azure.com`` -> ``swedencentral``).

    Learned from requests that logged the backend's ``x-ms-region`` header, and used for requests
    to the same host that did not (their backend response headers were not logged). An admin can
    correct or add an entry; an edited entry is never overwritten by learning.
    """

    class Source(models.TextChoices):
        LEARNED = "learned", "Learned from x-ms-region"
        EDITED = "edited", "Edited by an admin"

    host = models.CharField(max_length=255, unique=True)
    region = models.CharField(max_length=64, help_text="Azure region name, e.g. eastus2.")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.LEARNED)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.host} -> {self.region}"
