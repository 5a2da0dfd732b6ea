from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from predictions import views

app_name = "predictions"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.UploadView.as_view(), name="upload"),
    path("gallery/", views.GalleryView.as_view(), name="gallery"),
    path("gallery/bulk/", views.GalleryBulkView.as_view(), name="gallery_bulk"),
    path("dashboard/", views.DashboardView.as_view(), name="dashboard"),
    path("tasks/status/", views.TaskStatusesView.as_view(), name="task_statuses"),
    path("tasks/<int:task_id>/", views.TaskDetailView.as_view(), name="task_detail"),
    path("tasks/<int:task_id>/image/", views.TaskImageView.as_view(), name="task_image"),
    path(
        "tasks/<int:task_id>/thumbnail/", views.TaskThumbnailView.as_view(), name="task_thumbnail"
    ),
    path("tasks/<int:task_id>/result.json", views.TaskResultJsonView.as_view(), name="task_json"),
    path("tasks/<int:task_id>/rerun/", views.TaskRerunView.as_view(), name="task_rerun"),
    path("tasks/<int:task_id>/delete/", views.TaskDeleteView.as_view(), name="task_delete"),
    path(
        "models/<int:version_id>/plots/<slug:part>.png",
        views.ModelPlotView.as_view(),
        name="model_plot",
    ),
]
