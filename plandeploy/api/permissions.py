"""Who may create, change and cancel jobs: owners, superusers and the scratch org's session."""

from __future__ import annotations

from rest_framework import permissions

from plandeploy.api import sessions


class HasOrgOrReadOnly(permissions.BasePermission):
    """Reads for anyone; writes for a signed-in user or a session holding a scratch org.

    Changing or cancelling a job needs its owner, a superuser, or the session that holds
    the job's scratch org. Staff who are not superusers may read but not change.
    """

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        if request.user and request.user.is_authenticated:
            return True
        return sessions.session_scratch_org(request) is not None

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return may_change_job(request, obj)


def may_change_job(request, job) -> bool:
    """The owner, a superuser, or the session holding the job's scratch org."""
    user = request.user
    if user and user.is_authenticated and (user.is_superuser or job.user_id == user.pk):
        return True
    if job.user_id is None and job.org_id:
        return sessions.session_scratch_org_id(request) == job.org_id
    return False
