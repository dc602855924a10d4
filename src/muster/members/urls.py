from django.urls import path

from muster.members import views

urlpatterns = [
    path("members/", views.MemberListView.as_view(), name="member-index"),
    path("members/<str:member_no>/", views.MemberDetailView.as_view(), name="member-page"),
    path("members/<str:member_no>/status/", views.ChangeStatusView.as_view(), name="member-status"),
    path("members/<str:member_no>/vetting/", views.RecordVettingView.as_view(), name="member-vetting"),
    path("members/<str:member_no>/discipline/", views.AddDisciplinaryEntryView.as_view(), name="member-discipline"),
]
