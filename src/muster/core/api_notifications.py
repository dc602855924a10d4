"""Notifications in the API: GET /api/v1/notifications/ (the caller's own, newest first; ?unread=true|false),
POST /api/v1/notifications/{id}/read and POST /api/v1/notifications/read-all.

Every authenticated account reads and marks only its own notifications: another account's id answers 404, exactly
like an id that does not exist. Marking read is idempotent (a read notification keeps its first read time).
"""

import django_filters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from muster.core import notify
from muster.core.api import error_responses
from muster.core.api_input import ID_PARAMETER, StrictFilterBackend, StrictLimitOffsetPagination
from muster.core.models import Notification

TAGS = ["notifications"]


class NotificationSerializer(serializers.ModelSerializer):
    url = serializers.CharField(source="link", read_only=True, help_text="Where in Muster to look (a path), or empty")
    unread = serializers.SerializerMethodField(help_text="True until the notification is marked read")

    class Meta:
        model = Notification
        fields = ["id", "subject", "body", "url", "created_at", "read_at", "unread"]
        read_only_fields = fields

    def get_unread(self, notification: Notification) -> bool:
        return notification.read_at is None


class NotificationFilterSet(django_filters.FilterSet):
    unread = django_filters.BooleanFilter(
        method="filter_unread", label="true: only unread notifications; false: only read ones"
    )

    class Meta:
        model = Notification
        fields: list[str] = []

    def filter_unread(self, queryset, name, value):
        return queryset.filter(read_at__isnull=value)


@extend_schema(
    tags=TAGS,
    summary="The caller's notifications, newest first",
    responses={200: NotificationSerializer(many=True), **error_responses(400, 401)},
)
class NotificationListView(generics.ListAPIView):
    serializer_class = NotificationSerializer
    filter_backends = [StrictFilterBackend]
    filterset_class = NotificationFilterSet
    pagination_class = StrictLimitOffsetPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no caller
            return Notification.objects.none()
        return Notification.objects.filter(recipient=self.request.user).order_by("-created_at", "-pk")


class NotificationReadView(APIView):
    @extend_schema(
        operation_id="notifications_read",
        tags=TAGS,
        parameters=[ID_PARAMETER],
        request=None,
        summary="Mark one of the caller's notifications read",
        description="404 notification_not_found: no such notification among the caller's own.",
        responses={200: NotificationSerializer, **error_responses(401, 404)},
    )
    def post(self, request, pk):
        notification = notify.mark_read(account=request.user, notification_id=pk)
        return Response(NotificationSerializer(notification).data)


class NotificationsReadAllView(APIView):
    @extend_schema(
        operation_id="notifications_read_all",
        tags=TAGS,
        request=None,
        summary="Mark all the caller's notifications read",
        responses={
            200: inline_serializer(
                name="NotificationsMarked",
                fields={"marked": serializers.IntegerField(help_text="How many were unread and are now read")},
            ),
            **error_responses(401),
        },
    )
    def post(self, request):
        return Response({"marked": notify.mark_all_read(account=request.user)})
