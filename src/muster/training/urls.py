from django.urls import path

from muster.training import views, views_members, views_reports

urlpatterns = [
    path("training/", views.CalendarView.as_view(), name="training-calendar"),
    path("training/sessions/new/", views.ScheduleSessionView.as_view(), name="training-schedule"),
    path("training/sessions/<int:pk>/", views.SessionDetailView.as_view(), name="training-session"),
    path("training/sessions/<int:pk>/roster/", views.EnrollView.as_view(), name="training-enroll"),
    path("training/sessions/<int:pk>/results/", views.RecordResultsView.as_view(), name="training-results"),
    path("training/sessions/<int:pk>/cancel/", views.CancelSessionView.as_view(), name="training-cancel"),
    path("training/expiring/", views_reports.ExpiringView.as_view(), name="training-expiring"),
    path(
        "members/<str:member_no>/prior-service/",
        views_members.RecordPriorServiceView.as_view(),
        name="member-prior-service",
    ),
]
