from django.urls import path

from muster.members import views

urlpatterns = [
    path("members/", views.MemberListView.as_view(), name="member-index"),
    path("members/<str:member_no>/", views.MemberDetailView.as_view(), name="member-page"),
]
