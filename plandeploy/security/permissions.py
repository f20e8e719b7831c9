"""Who may use the admin APIs (catalogue and translations): superusers only.

What the admin API publishes is code that later runs against customers' orgs, so staff
status alone (enough to sign in to the admin site) is not enough: a staff account that is
not a superuser gets 403. The network check comes first, in
security.middleware.AdminAllowedSubnetsMiddleware.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission


class IsSuperuser(BasePermission):
    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.is_superuser)
