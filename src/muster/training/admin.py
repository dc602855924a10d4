"""Admin for training reference data: qualifications and courses. Sessions may be corrected here, but rosters,
results and the qualifications they grant change only through training.services, so those are read-only."""

from django.contrib import admin

from muster.core.admin_changelog import ChangeLoggedAdmin
from muster.training.models import Course, MemberQualification, Qualification, Trainee, TrainingSession


@admin.register(Qualification)
class QualificationAdmin(ChangeLoggedAdmin):
    list_display = ["name", "code", "validity_days"]
    search_fields = ["name", "code"]


@admin.register(Course)
class CourseAdmin(ChangeLoggedAdmin):
    list_display = ["name", "code", "validity_days", "granted"]
    search_fields = ["name", "code"]
    filter_horizontal = ["grants"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("grants")

    @admin.display(description="grants")
    def granted(self, course: Course) -> str:
        return ", ".join(qualification.name for qualification in course.grants.all())


class TraineeInline(admin.TabularInline):
    model = Trainee
    extra = 0
    fields = ["member", "attended", "result", "note"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TrainingSession)
class TrainingSessionAdmin(ChangeLoggedAdmin):
    list_display = ["starts_at", "course", "unit", "place", "instructor", "status"]
    list_filter = ["status", "course", "unit"]
    search_fields = ["place", "course__name", "unit__code"]
    list_select_related = ["course", "unit", "instructor"]
    date_hierarchy = "starts_at"
    autocomplete_fields = ["unit", "instructor"]
    # Completion belongs to record_results (which grants qualifications with it); the status is not edited here.
    readonly_fields = ["status", "completed_at", "completed_by"]
    inlines = [TraineeInline]


@admin.register(MemberQualification)
class MemberQualificationAdmin(admin.ModelAdmin):
    list_display = ["member", "qualification", "granted_on", "expires_on", "source", "session", "granted_by"]
    list_filter = ["qualification", "source"]
    search_fields = ["member__member_no", "member__last_name", "qualification__name", "evidence"]
    list_select_related = ["member", "qualification", "session__course", "granted_by"]
    date_hierarchy = "expires_on"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
