"""Users and the org each user connects (with its encrypted tokens)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.db.models import Q

from plandeploy.crypto import EncryptedTextField
from plandeploy.hashids import HashIdModel


class OrgType(models.TextChoices):
    LOCAL = "local", "Local workspace"
    SALESFORCE = "salesforce", "Salesforce"


class FullOrgType(models.TextChoices):
    PRODUCTION = "Production"
    SCRATCH = "Scratch"
    SANDBOX = "Sandbox"
    DEVELOPER = "Developer"


class UserWithOrgManager(UserManager):
    """Users with their org connection in the same query.

    Nearly every request reads both: the auth backends load the session's user through the
    default manager, and the page frame, the API's permissions and the install checks read
    the user's org right after. Only User's own queries change; a relation to a user
    (job.user) loads through the base manager as before.
    """

    def get_queryset(self):
        return super().get_queryset().select_related("org_connection")


class User(HashIdModel, AbstractUser):
    """A person who signs in; everything about their org lives in `org_connection`."""

    objects = UserWithOrgManager()

    def keep_loaded_org_connection(self, org: OrgConnection | None) -> None:
        """Hold `org` (read in the user's own query) as select_related leaves it: without
        one, `user.org_connection` raises DoesNotExist as it would after the query."""
        User.org_connection.related.set_cached_value(self, org)
        if org is not None:
            OrgConnection.user.field.set_cached_value(org, self)

    class Meta:
        indexes = [
            # cleanup_user_data deletes idle non-staff users.
            models.Index(
                fields=["last_login"], name="user_idle_nonstaff", condition=Q(is_staff=False)
            ),
            # Users who never signed in are measured from date_joined.
            models.Index(
                fields=["date_joined"], name="user_never_logged_in",
                condition=Q(is_staff=False, last_login__isnull=True),
            ),
        ]

    def _connection(self) -> OrgConnection | None:
        try:
            return self.org_connection
        except OrgConnection.DoesNotExist:
            return None

    @property
    def org_id(self) -> str | None:
        connection = self._connection()
        return connection.org_id if connection else None

    @property
    def org_name(self) -> str | None:
        connection = self._connection()
        return (connection.org_name or None) if connection else None

    @property
    def org_type(self) -> str | None:
        connection = self._connection()
        return (connection.organization_type or None) if connection else None

    @property
    def full_org_type(self) -> str | None:
        connection = self._connection()
        return (connection.full_org_type or None) if connection else None

    @property
    def instance_url(self) -> str | None:
        connection = self._connection()
        return (connection.instance_url or None) if connection else None

    @property
    def sf_username(self) -> str | None:
        connection = self._connection()
        return (connection.org_username or None) if connection else None

    @property
    def token(self) -> tuple[str | None, str | None]:
        connection = self._connection()
        if not connection:
            return (None, None)
        return (connection.access_token, connection.refresh_token)

    @property
    def valid_token_for(self) -> str | None:
        connection = self._connection()
        if connection and connection.org_id and connection.access_token:
            return connection.org_id
        return None


class OrgConnection(models.Model):
    """The org a user has connected: its identity, and tokens that expire.

    For `local` orgs the workspace is a directory under LOCAL_ORGS_ROOT and the
    access token is random; for `salesforce` orgs the tokens come from OAuth.
    """

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="org_connection")
    org_type = models.CharField(max_length=16, choices=OrgType.choices, default=OrgType.LOCAL)
    org_id = models.CharField(max_length=18, null=True, blank=True)
    org_name = models.CharField(max_length=255, blank=True, default="")
    # The raw organisation type (e.g. "Developer Edition") and its classification.
    organization_type = models.CharField(max_length=255, blank=True, default="")
    full_org_type = models.CharField(
        max_length=32, choices=FullOrgType.choices, null=True, blank=True
    )
    instance_url = models.CharField(max_length=2048, blank=True, default="")
    org_username = models.CharField(max_length=255, blank=True, default="")
    workspace = models.CharField(max_length=2048, blank=True, default="")
    access_token = EncryptedTextField(null=True, blank=True)
    refresh_token = EncryptedTextField(null=True, blank=True)
    # Token expiry is measured from here: when the token was obtained.
    token_created_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["token_created_at"],
                name="orgconn_token_age",
                condition=Q(token_created_at__isnull=False),
            ),
            models.Index(fields=["org_id"], name="orgconn_org_id"),
        ]

    def __str__(self) -> str:
        return f"{self.org_type}:{self.org_id}"
